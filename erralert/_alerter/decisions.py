"""Routing at capture time: each error's decision (its channels, its window, silenced or
not) is made once for the fingerprint and the per-occurrence facts the rules look at, then
reused; occurrences a rule silenced are counted in the process until the worker's tick
folds them into the store (where ``erralert check`` reads them)."""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping
from typing import Any

from erralert._routing import Decision, Facts, Router
from erralert._stores import Store

__all__ = ["Decisions", "Detail", "SilencedCounts"]

_MAX_DECISIONS = 10_000  # routing decisions kept per process

# an occurrence's level, logger name and tags
Detail = tuple[str, str | None, Mapping[str, Any] | None]


class Decisions:
    """``router``'s decisions, by fingerprint and detail (at most ``_MAX_DECISIONS``)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._cache: dict[tuple[object, ...], Decision] = {}

    def cached(self, key: str, detail: Detail) -> Decision | None:
        return self._cache.get(self._cache_key(key, detail))

    def decide(self, key: str, detail: Detail, facts: Facts) -> Decision:
        decision = self.router.decide(facts)
        if len(self._cache) >= _MAX_DECISIONS:
            self._cache.clear()
        self._cache[self._cache_key(key, detail)] = decision
        return decision

    def _cache_key(self, key: str, detail: Detail) -> tuple[object, ...]:
        """A decision's cache key: the fingerprint and the per-occurrence facts the rules
        look at (the rest — type, culprit, route — comes with the fingerprint)."""
        router = self.router
        level, logger_name, tags = detail
        parts: list[object] = [key]
        if router.uses_level:
            parts.append(level)
        if router.uses_logger:
            parts.append(logger_name)
        if router.tag_keys:
            given = tags or {}
            parts.extend(str(given[k]) if k in given else None for k in router.tag_keys)
        return tuple(parts)


class SilencedCounts:
    """Occurrences silenced by routing rules, per rule id, not yet in the store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: collections.Counter[str] = collections.Counter()

    def __bool__(self) -> bool:
        return bool(self._pending)

    def count(self, decision: Decision) -> None:
        with self._lock:
            for rule in decision.rules:
                if rule.silences:
                    self._pending[rule.id] += 1

    def fold(self, store: Store, now: float) -> None:
        """Add the counts to ``store``; kept for the next time if it fails (and raised)."""
        with self._lock:
            pending, self._pending = self._pending, collections.Counter()
        if not pending:
            return
        try:
            store.count_silenced(pending, now)
        except Exception:
            with self._lock:  # kept for the next tick rather than lost
                self._pending.update(pending)
            raise
