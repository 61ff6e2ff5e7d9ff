"""``Throttle``: the alerter's view of the store, with the window length bound.

The window semantics are ``erralert._stores.windows`` (every store answers by them); with a
shared store, the throttle counts repeats in the process and folds them into the store in
batches (see ``Throttle``)."""

from __future__ import annotations

import math
import threading

from erralert._core.event import Event
from erralert._stores import takes
from erralert._stores.base import Batch, Due, Hit, Store
from erralert._stores.origins import this_process
from erralert._stores.windows import BUCKETS, REPEAT, Repeats

__all__ = ["Throttle"]

# Local counting of a window stops this long before the store's end of it (at most half the
# window), and pending counts are folded in at most half of that after they were counted:
# the store holds every repeat before the window ends, so the digest claimed at its end
# (claims of shared stores lag by the same guard) has them all.
_GUARD = 2.0
_FOLD_INTERVAL = 1.0
_MAX_TALLIES = 10_000  # windows counted locally at once; beyond, repeats go to the store


class _Tally(Repeats):
    """Repeats of one fingerprint counted in this process since the last fold, inside the
    window ``[window_start, window_end)`` the store said is open. Mutated under the
    throttle's lock."""

    __slots__ = ("stop", "window_end")

    def __init__(self, window_start: float, window_end: float, window: float, stop: float) -> None:
        self.window_start = window_start
        self.window_end = window_end
        self.window = window  # the store's length: the same buckets as its own repeats
        self.stop = stop  # count locally only before this time
        self.count = 0
        self.first_seen = 0.0
        self.last_seen = 0.0
        self.histogram = [0] * BUCKETS

    def take(self, key: str, release: str | None, source: str) -> Batch:
        batch = Batch(
            key=key,
            window_start=self.window_start,
            window_end=self.window_end,
            count=self.count,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            histogram=tuple(self.histogram),
            release=release,
            source=source,
        )
        self.count = 0
        self.histogram = [0] * BUCKETS
        return batch


class Throttle:
    """The alerter's view of the store, with the window length bound.

    With a shared store (SQLite, Redis: a round trip per call) it batches: once the store
    has answered that a fingerprint's window is open until ``window_end``, further repeats
    of it are counted here, without a round trip, until ``window_end - guard``; the counts
    are folded into the store (one ``fold`` for every fingerprint) at least every
    ``guard / 2`` seconds while repeats arrive, on every ``due`` (the worker's 1 s tick),
    and before ``drain``/``close``. Claims lag ``guard`` seconds behind ``now`` so that
    every process has folded a window's repeats before its digest is claimed. What chat
    receives is the same as without batching; digests arrive up to ``guard`` later.

    ``release``: the release every occurrence counted here happened under (the store
    remembers it per fingerprint, for an alert's ``status``). Each occurrence and batch
    also carries this process's source (``erralert._stores.origins.this_process``, read
    at the time: a forked child is a process of its own), so that a digest can say how
    many processes and hosts its repeats came from — to a store that takes ``source=``
    (every built-in one; a store object written before it gets none)."""

    def __init__(self, store: Store, window: float, release: str | None = None) -> None:
        if not window > 0:
            raise ValueError(f"window must be a positive number of seconds, got {window!r}")
        self._store = store
        self._window = float(window)
        self._release = release
        self._sources = bool(takes(store, "hit", "source"))
        self._batching = bool(getattr(store, "shared", False))
        self._guard = min(_GUARD, self._window / 2) if self._batching else 0.0
        self._interval = min(_FOLD_INTERVAL, self._guard / 2)
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {}
        self._orphans: list[Batch] = []  # counts whose tally was replaced before a fold
        self._fold_at = math.inf  # when pending counts must be folded at the latest

    @property
    def store(self) -> Store:
        return self._store

    @property
    def window(self) -> float:
        return self._window

    @property
    def release(self) -> str | None:
        return self._release

    @property
    def batching(self) -> bool:
        """True when repeats are counted here and folded into a shared store."""
        return self._batching

    @property
    def guard(self) -> float:
        """Seconds before a window's end when local counting stops (0: no batching)."""
        return self._guard

    def hit(self, key: str, now: float, window: float | None = None) -> Hit:
        """Count an occurrence of ``key``; ``window``: its own length (a route's), else
        the alerter's."""
        length = self._window if window is None else window
        if not self._batching:  # the memory store: every occurrence is a call, inline it
            if self._sources:
                return self._store.hit(
                    key, now, length, release=self._release, source=this_process()
                )
            return self._store.hit(key, now, length, release=self._release)
        tally = self._tallies.get(key)
        if tally is not None and now < tally.stop:
            with self._lock:
                tally.repeat(now)
                if self._fold_at == math.inf:
                    self._fold_at = now + self._interval
            if now >= self._fold_at:
                self.fold(now)
            return REPEAT
        if tally is not None and tally.count:
            # its window is ending (or has ended): the store must hold these repeats
            # before this hit, which may settle the window, is decided
            self.fold(now)
        hit = self._store_hit(key, now, length)
        occurrences = hit.occurrences
        start, end = occurrences.window_start, occurrences.window_end
        stop = end - self._guard
        if now < stop or tally is not None:
            with self._lock:
                old = self._tallies.pop(key, None)
                if old is not None and old.count:
                    self._orphans.append(old.take(key, self._release, this_process()))
                    self._fold_at = min(self._fold_at, now + self._interval)
                if now < stop and len(self._tallies) < _MAX_TALLIES:
                    self._tallies[key] = _Tally(start, end, occurrences.window, stop)
        return hit

    def _store_hit(self, key: str, now: float, window: float) -> Hit:
        if self._sources:
            return self._store.hit(key, now, window, release=self._release, source=this_process())
        return self._store.hit(key, now, window, release=self._release)

    def fold(self, now: float) -> None:
        """Hand the locally counted repeats to the store, and forget windows past their stop."""
        if not self._batching:
            return
        source = this_process()
        with self._lock:
            batches, self._orphans = self._orphans, []
            ended = []
            for key, tally in self._tallies.items():
                if tally.count:
                    batches.append(tally.take(key, self._release, source))
                if now >= tally.stop:
                    ended.append(key)
            for key in ended:
                del self._tallies[key]
            self._fold_at = math.inf
        if not batches:
            return
        try:
            self._store.fold(batches, now)
        except BaseException:
            with self._lock:  # keep the counts for the next fold rather than lose them
                if len(self._orphans) < _MAX_TALLIES:
                    self._orphans.extend(batches)
                self._fold_at = min(self._fold_at, now + self._interval)
            raise

    def put_sample(self, key: str, event: Event) -> None:
        self._store.put_sample(key, event)

    def due(self, now: float, limit: int = 1000) -> list[Due]:
        self.fold(now)
        return self._store.claim_due(now - self._guard, limit)

    def drain(self, now: float) -> list[Due]:
        self.fold(now)
        return self._store.drain(now)

    def next_due(self) -> float | None:
        return self._store.next_due()

    def close(self) -> None:
        self._store.close()
