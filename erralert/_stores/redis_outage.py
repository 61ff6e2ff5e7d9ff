"""The Redis store while Redis cannot be used: it cannot be reached (connection refused,
timeout) or it refuses commands for a while (a replica after a failover, a server loading
its data or out of memory …: ``erralert._stores.redis_errors`` lists them).

The store falls back to an in-process ``MemoryStore`` — alerting keeps working, one
warning is logged — and tries Redis again at most every ``retry_after`` seconds; when it
answers, one line is logged and Redis is used again. Counts kept in memory during the
outage are *not* merged into Redis: the windows the fallback holds are handed over as
digests by the next ``claim_due`` (or ``drain``), and a fingerprint alerted during the
outage may be alerted again by Redis. Silenced counts added during an outage wait in the
process and are added to Redis when it is back (lost only if the process ends first).

``Outage`` keeps that state for one ``RedisStore``; the store does the talking to Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from erralert._core.safelog import safe_logger
from erralert._stores.base import Batch, Due, Silenced
from erralert._stores.memory import MemoryStore
from erralert._stores.redis_errors import REDIS_ERRORS, outage_cause

__all__ = ["Backlog", "Outage"]

logger = safe_logger()

_MAX_DEFERRED = 10_000  # windows whose repeats may wait for Redis to come back


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waited for Redis during an outage that just ended, to be added to it now."""

    batches: list[Batch]  # the repeats of Redis windows counted during the outage
    silenced: dict[str, Silenced]  # the silenced counts added during the outage


class Outage:
    """One Redis store's outage: the fallback while Redis is down, the fallback's digests
    once it is back, and what waits to be added to Redis. Thread-safe."""

    def __init__(self, url: str, retry_after: float) -> None:
        self.url = url  # masked: it is logged
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._fallback: MemoryStore | None = None  # set while Redis is unreachable
        self._retry_at = 0.0  # time.monotonic() when Redis may be tried again
        self._leftover: list[Due] = []  # the fallback's digests, after Redis came back
        # repeats of Redis windows counted during an outage, folded in when it is back
        self._deferred: dict[tuple[str, float], Batch] = {}
        # silenced counts added during an outage, per rule id, added to Redis when it is back
        self._held_silenced: dict[str, Silenced] = {}

    @property
    def active(self) -> bool:
        """Whether Redis is being stood in for."""
        return self._fallback is not None

    def check(self, now: float | None, ping: Callable[[], object]) -> MemoryStore | Backlog | None:
        """The fallback while Redis is down; None when Redis is to be used. During an
        outage, a call with a ``now`` at least ``retry_after`` seconds after the last
        attempt probes Redis (``ping``, one PING) and, if it answers, ends the outage: then
        the ``Backlog`` that waited for Redis, for the caller to add to it. ``ping`` must
        fail whenever the store's commands would: a replica answers PING, so the store's
        probe is a write (``erralert._stores.redis_calls.probe``)."""
        if self._fallback is None:  # the common case, without the lock
            return None
        with self._lock:
            fallback = self._fallback
            if fallback is None or now is None or time.monotonic() < self._retry_at:
                return fallback
            self._retry_at = time.monotonic() + self.retry_after
            try:
                ping()
            except REDIS_ERRORS:  # whatever the cause, Redis is not usable yet
                return fallback
            self._fallback = None
            # not merged into Redis: the fallback's open windows become digests at `now`,
            # handed over by the next claim_due (or drain)
            self._leftover.extend(fallback.drain(now))
            deferred, self._deferred = list(self._deferred.values()), {}
            held, self._held_silenced = self._held_silenced, {}
        logger.warning("erralert: redis store %s is reachable again; using it", self.url)
        return Backlog(batches=deferred, silenced=held)

    def fail(self, exc: Exception) -> MemoryStore:
        """Redis just failed: switch to (or keep) the in-process fallback. An error that is
        no outage (``redis_errors.outage_cause``: a script bug, a key of another type) is
        raised again: waiting would not cure it, and the fallback would hide it for good."""
        cause = outage_cause(exc)
        if cause is None:
            raise exc
        with self._lock:
            self._retry_at = time.monotonic() + self.retry_after
            if self._fallback is None:
                self._fallback = MemoryStore()
                logger.warning(
                    "erralert: redis store %s is %s (%s); counting in this process until it "
                    "is back (retrying every %g s)",
                    self.url,
                    "unreachable" if cause == type(exc).__name__ else "refusing commands",
                    f"{cause}: {exc}",
                    self.retry_after,
                )
            return self._fallback

    def take_leftover(self) -> list[Due]:
        """The fallback's digests not yet handed over since Redis came back."""
        if not self._leftover:
            return []
        with self._lock:
            leftover, self._leftover = self._leftover, []
        return leftover

    def defer(self, batches: Sequence[Batch], fallback: MemoryStore, now: float) -> None:
        """During an outage: repeats of a window the fallback opened go to the fallback;
        repeats of a Redis window wait (merged per window, bounded) to be folded into
        Redis when it is back — the fallback knows neither their window nor their sample,
        and would hand them out as a digest a second."""
        own = [b for b in batches if fallback.has_window(b.key, b.window_start)]
        if own:
            fallback.fold(own, now)
        with self._lock:
            for batch in batches:
                if fallback.has_window(batch.key, batch.window_start):
                    continue
                slot = (batch.key, batch.window_start)
                kept = self._deferred.get(slot)
                if kept is not None:
                    self._deferred[slot] = kept.merged(batch)
                elif len(self._deferred) < _MAX_DEFERRED:
                    self._deferred[slot] = batch
                else:  # too many windows waiting: the fallback reports them, unsampled
                    fallback.fold([batch], now)

    def hold_silenced(self, added: Mapping[str, Silenced]) -> None:
        """During an outage: keep ``added`` in this process (one record per rule)."""
        with self._lock:
            held = self._held_silenced
            for rule, record in added.items():
                kept = held.get(rule)
                held[rule] = record if kept is None else kept.merged(record)

    def held_silenced(self) -> dict[str, Silenced]:
        """The silenced counts waiting in this process for Redis."""
        with self._lock:
            return dict(self._held_silenced)

    def drain(self, now: float) -> list[Due]:
        """At shutdown: the counts kept in this process during an outage (the fallback's,
        and repeats of Redis windows still waiting for Redis), which no one else can see."""
        with self._lock:
            fallback, self._fallback = self._fallback, None
            leftover, self._leftover = self._leftover, []
            deferred, self._deferred = list(self._deferred.values()), {}
        if fallback is None:
            return leftover
        if deferred:  # Redis is still down at shutdown: report them from here
            fallback.fold(deferred, now)
        return leftover + fallback.drain(now)
