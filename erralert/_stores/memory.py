"""The in-process store: one dict of window slots behind one lock (``memory://``).

Counts live only in this process; several processes behind one app each alert once per
window. Bounded: at most ``max_keys`` fingerprints, the least recently seen evicted first
(its open window's repeats become a due digest at once, so none are lost; the fingerprint
itself is forgotten — its history too — so its next occurrence is alerted as new with
``total`` from 1).
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit

from erralert._core import pacing
from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._core.notice import Occurrences
from erralert._core.pacing import Rate
from erralert._stores.base import Batch, Due, Hit, Pile, Silenced, StormEntry
from erralert._stores.piles import PileState
from erralert._stores.windows import WindowSlot

__all__ = ["MemoryStore"]


class _Entry(WindowSlot):
    """A fingerprint's window plus the event its digests show."""

    __slots__ = ("sample",)

    def __init__(self) -> None:
        super().__init__()
        self.sample: Event | None = None


class MemoryStore:
    """``Store`` for one process. Thread-safe; every method holds one lock briefly."""

    shared = False  # a call costs a dict lookup: nothing to batch

    def __init__(self, max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        self.max_keys = max_keys
        self._lock = threading.Lock()
        # least recently seen first: a hit moves its key to the end
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # (window_end, seq, key) for each window that got its first repeat. Lazy deletion:
        # an entry is stale once that key's window was settled, cut or evicted; stale
        # entries are skipped when they reach the top. Pushed once per window with
        # repeats, popped once its end has passed, so it stays as small as the number of
        # windows holding repeats (plus those settled early, until their end passes).
        self._deadlines: list[tuple[float, int, str]] = []
        # digests already due, not yet handed out: (window_end, seq, due), oldest first
        self._ready: list[tuple[float, int, Due]] = []
        self._seq = itertools.count()  # tie-breaker: never compare keys or Due objects
        # the outbox's per-channel state: sends booked, storm summary being gathered
        self._booked: dict[str, list[float]] = {}
        self._piles: dict[str, PileState] = {}
        # occurrences silenced by routing rules, per rule id (rule ids come from the
        # configuration: a handful, one record each)
        self._silenced: dict[str, Silenced] = {}

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """``memory://`` or ``memory://?max_keys=500``."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "memory":
            raise ConfigError(f"not a memory store URL: {url!r} (expected memory://)")
        if parts.netloc or parts.path not in ("", "/"):
            raise ConfigError(f"memory store URL takes no host or path: {url!r}")
        options: dict[str, int] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name != "max_keys":
                raise ConfigError(f"memory store: unknown option {name!r} in {url!r}")
            try:
                options[name] = int(value)
            except ValueError:
                raise ConfigError(
                    f"memory store: max_keys must be an integer, got {value!r}"
                ) from None
            if options[name] < 1:
                raise ConfigError(f"memory store: max_keys must be at least 1, got {value!r}")
        return cls(**options)

    def __len__(self) -> int:
        """How many fingerprints the store remembers."""
        return len(self._entries)

    # -- Store -----------------------------------------------------------------------------
    def hit(
        self,
        key: str,
        now: float,
        window: float,
        release: str | None = None,
        source: str | None = None,
    ) -> Hit:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._admit(key, now)
            else:
                self._entries.move_to_end(key)
            hit, digest = entry.record(now, window, release, source)
            if digest is not None:
                self._make_ready(key, entry.sample, digest)
            if entry.count == 1 and not hit.alert:
                # the window's first repeat: from now on its end is a deadline
                self._add_deadline(entry.window_end, key)
            return hit

    def fold(self, batches: Sequence[Batch], now: float) -> None:
        """Repeats counted elsewhere (the Redis store's fallback receives them during an
        outage); see ``WindowSlot.fold``."""
        with self._lock:
            for batch in batches:
                entry = self._entries.get(batch.key)
                if entry is None:
                    entry = self._admit(batch.key, now)
                else:
                    self._entries.move_to_end(batch.key)
                for digest in entry.fold(batch, now):
                    self._make_ready(batch.key, entry.sample, digest)
                if entry.count > 0:
                    # its end is (still) a deadline; a duplicate entry is skipped as stale
                    self._add_deadline(entry.window_end, batch.key)

    def has_window(self, key: str, window_start: float) -> bool:
        """Whether ``key``'s current window is the one that opened at ``window_start``."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry.window_start == window_start

    def put_sample(self, key: str, sample: Event) -> None:
        with self._lock:
            entry = self._entries.get(key)
            # a key evicted between its hit and this call has nothing left to show it
            if entry is not None:
                entry.sample = sample

    def claim_due(self, now: float, limit: int = 1000) -> list[Due]:
        with self._lock:
            deadlines = self._deadlines
            while deadlines and deadlines[0][0] <= now:
                _, _, key = heapq.heappop(deadlines)
                entry = self._entries.get(key)
                if entry is None:
                    continue  # evicted: its digest was made ready then
                digest = entry.settle(now)  # None when this deadline is stale
                if digest is not None:
                    self._make_ready(key, entry.sample, digest)
            ready = self._ready
            return [heapq.heappop(ready)[2] for _ in range(min(limit, len(ready)))]

    def drain(self, now: float) -> list[Due]:
        """Every open window's repeats as digests ending at ``now`` (the windows close),
        and every digest already due but not yet claimed — oldest first. O(keys)."""
        with self._lock:
            for key, entry in self._entries.items():
                digest = entry.cut(now)
                if digest is not None:
                    self._make_ready(key, entry.sample, digest)
            self._deadlines.clear()  # every window is closed now
            ready = sorted(self._ready)
            self._ready.clear()
            return [item[2] for item in ready]

    def reserve(
        self,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        horizon: float,
        *,
        keep: int = 0,
        max_waiting: int | None = None,
    ) -> float | None:
        with self._lock:
            times = self._booked.setdefault(lane, [])
            return pacing.reserve(times, rates, now, horizon, keep=keep, max_waiting=max_waiting)

    def book(self, lane: str, times: Sequence[float]) -> None:
        """Count ``times`` as sends booked to ``lane`` (made elsewhere), in order."""
        with self._lock:
            booked = self._booked.setdefault(lane, [])
            booked.extend(times)
            booked.sort()

    def add_to_storm(
        self, lane: str, entry: StormEntry, sample: Event, now: float, gather: float
    ) -> None:
        with self._lock:
            pile = self._piles.get(lane)
            if pile is None:
                pile = self._piles[lane] = PileState.start(entry, sample, now, gather)
            pile.add(entry, now, sample)

    def claim_storm(
        self,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        *,
        force: bool = False,
        followups: int = 0,
    ) -> Pile | float | None:
        with self._lock:
            pile = self._piles.get(lane)
            if pile is None:
                return None
            if now < pile.not_before and not force:
                return pile.not_before
            del self._piles[lane]
            times = self._booked.setdefault(lane, [])
            slot = pacing.reserve(times, rates, now, math.inf)
            assert slot is not None  # an infinite horizon always has room
            return pile.claimed(slot, followups)

    def next_due(self) -> float | None:
        """The earliest end of a window holding repeats (or of a digest already due, which
        is in the past). Amortised O(log n): stale deadlines are dropped as they surface."""
        with self._lock:
            deadlines = self._deadlines
            while deadlines:
                end, _, key = deadlines[0]
                entry = self._entries.get(key)
                if entry is not None and entry.count > 0 and entry.window_end == end:
                    break
                heapq.heappop(deadlines)
            candidates = [heap[0][0] for heap in (deadlines, self._ready) if heap]
            return min(candidates) if candidates else None

    def count_silenced(self, counts: Mapping[str, int], now: float) -> None:
        with self._lock:
            silenced = self._silenced
            for rule, count in counts.items():
                if count <= 0:
                    continue
                added = Silenced(count, now, now)
                kept = silenced.get(rule)
                silenced[rule] = added if kept is None else kept.merged(added)

    def silenced(self) -> dict[str, Silenced]:
        with self._lock:
            return dict(self._silenced)

    def close(self) -> None:
        """Nothing to release: the counts die with the process (``drain`` hands them over)."""

    # -- internals (lock held) ---------------------------------------------------------------
    def _admit(self, key: str, now: float) -> _Entry:
        if len(self._entries) >= self.max_keys:
            old_key, old = self._entries.popitem(last=False)
            digest = old.cut(now)
            if digest is not None:
                self._make_ready(old_key, old.sample, digest)
        entry = _Entry()
        self._entries[key] = entry
        return entry

    def _add_deadline(self, window_end: float, key: str) -> None:
        deadlines = self._deadlines
        if len(deadlines) > 2 * self.max_keys + 1000:
            # mostly stale (keys evicted or settled before their end): keep the live ones,
            # so the heap stays within a few times max_keys however many keys pass through
            live = [
                item
                for item in deadlines
                if (entry := self._entries.get(item[2])) is not None
                and entry.count > 0
                and entry.window_end == item[0]
            ]
            heapq.heapify(live)
            self._deadlines = deadlines = live
        heapq.heappush(deadlines, (window_end, next(self._seq), key))

    def _make_ready(self, key: str, sample: Event | None, digest: Occurrences) -> None:
        due = Due(key=key, sample=sample, occurrences=digest)
        heapq.heappush(self._ready, (digest.window_end, next(self._seq), due))
