"""Digests: when an error's window ends, the count of its repeats goes out as one message.
The throttle says which windows are due; this turns them into digest notices for a sink,
with the error's sample event — or, when the store lost it, the one this process kept, or
at least a stand-in that carries the count."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from typing import Any

from erralert._capture.events import build_message_event
from erralert._core.event import Event
from erralert._core.notice import Notice
from erralert._delivery.sink import Sink
from erralert._grouping.throttle import Throttle
from erralert._routing import Router
from erralert._stores.base import Due

__all__ = ["Digests"]

_CLAIM_BATCH = 1000
_MAX_CLAIMS_PER_TICK = 100
_RECENT_SAMPLES = 256  # events of recent alerts kept in the process (see remember)


class Digests:
    """``router``: routed errors' digests go where their alerts went; ``context``: what a
    stand-in event carries (service, environment, release)."""

    def __init__(self, router: Router | None, context: Callable[[], dict[str, Any]]) -> None:
        self._router = router
        self._context = context
        self._recent: collections.OrderedDict[str, Event] = collections.OrderedDict()
        self._recent_lock = threading.Lock()

    def remember(self, key: str, event: Event) -> None:
        """Keep the last events this process alerted, for digests whose store lost theirs."""
        with self._recent_lock:
            self._recent[key] = event
            self._recent.move_to_end(key)
            while len(self._recent) > _RECENT_SAMPLES:
                self._recent.popitem(last=False)

    def claim(self, throttle: Throttle, now: float, sink: Sink) -> None:
        """Send the digests of every window of ``throttle`` that has ended by ``now``."""
        # Claim in batches until the store has nothing due: digests waiting in the store
        # hold their sample events, and a storm of distinct errors can make them due faster
        # than one batch a second (every eviction from a full memory store makes one).
        # Bounded, so that one tick cannot run forever against a store that keeps giving.
        for _ in range(_MAX_CLAIMS_PER_TICK):
            dues = throttle.due(now, _CLAIM_BATCH)
            self.emit(dues, now, sink)
            if len(dues) < _CLAIM_BATCH:
                break

    def emit(self, dues: Sequence[Due], now: float, sink: Sink) -> None:
        router = self._router
        for due in dues:
            # routed errors' keys carry their rules: the digest goes where the alert went,
            # whichever process decided it
            fingerprint, decision = router.for_key(due.key) if router else (due.key, None)
            # the sample can be lost (evicted, never stored, or the store was down when it
            # was sent): this process may still have it; else still report the count
            event = (
                due.sample
                or self._recent.get(due.key)
                or build_message_event(
                    f"error {fingerprint[:12]}",
                    now=due.occurrences.last_seen,
                    fingerprint=fingerprint,
                    **self._context(),
                )
            )
            channels = decision.channels if decision is not None else None
            sink.submit(Notice("digest", event, due.occurrences, created_at=now, channels=channels))
