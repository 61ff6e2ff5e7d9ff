"""Booking sends while the shared store cannot be reached, without multiplying traffic.

With the store down, every process paces on its own (the in-process fallback). Left at
that, N processes posting to one robot would send N times its limit. So during an outage
each process books under its *share* of the robot's rates (``erralert._core.pacing.share_of``),
from the number of live processes posting to that robot that its last check-in with the
store reported (``erralert._stores.fleet``): 8 processes on a DingTalk robot (20 per 60 s)
get 2 per 60 s each. And it starts as if the whole share had just been used — the sends
the store booked before it went down are unknown here — so a process's first send of an
outage waits one period of the share (60 s on DingTalk).

When the store is back, the sends booked meanwhile are added to its ledger (``take``). The
processes notice at different times (each probes the store every ``retry_after`` seconds),
and one that went back to the store's ledger first would not see the bookings of one that
has not noticed yet. So a lane booked in the outage *settles*: for one period of its rates
after the process noticed, it keeps booking under its share, on the outage's ledger, and
adds each booking to the store's at once; a storm summary gathered in the outage is claimed
from where it was gathered.

What this costs: a smaller budget for a while (an outage's alerts go out slower, folded into
storm summaries sooner, for up to a period after it), and a process that never checked in
(the store was down from its start) counts itself alone.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

from erralert._core import pacing
from erralert._core.pacing import Rate
from erralert._stores.base import Pile
from erralert._stores.memory import MemoryStore

__all__ = ["DegradedLedger"]


class DegradedLedger:
    """One process's bookings during an outage, on ``fallback`` (the outage's in-process
    store). ``sharing``: how many live processes post to a lane, as last seen. Thread-safe."""

    def __init__(self, sharing: Callable[[str], int]) -> None:
        self._sharing = sharing
        self._lock = threading.Lock()
        self._fallback: MemoryStore | None = None  # the outage these bookings belong to
        self._booked: dict[str, list[float]] = {}  # per lane: the slots booked meanwhile
        self._depth: dict[str, int] = {}  # per lane: how many sends its ledger keeps
        self._period: dict[str, float] = {}  # per lane: the longest period of its rates
        self._settle_until: dict[str, float] = {}  # per lane, once the outage is over
        self._shares: dict[str, tuple[Rate, ...]] = {}  # per lane: this process's share

    def reserve(
        self,
        fallback: MemoryStore,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        horizon: float,
        *,
        keep: int = 0,
        max_waiting: int | None = None,
    ) -> float | None:
        share = self._start(fallback, lane, now, rates)
        slot = fallback.reserve(lane, now, share, horizon, keep=keep, max_waiting=max_waiting)
        if slot is not None and lane not in self._settle_until:  # settling: the store has it
            self._record(lane, slot)
        return slot

    def claim_storm(
        self,
        fallback: MemoryStore,
        lane: str,
        now: float,
        rates: Sequence[Rate],
        *,
        force: bool = False,
        followups: int = 0,
    ) -> Pile | float | None:
        share = self._start(fallback, lane, now, rates) if rates else ()
        result = fallback.claim_storm(lane, now, share, force=force, followups=followups)
        if isinstance(result, Pile) and rates and lane not in self._settle_until:
            self._record(lane, result.slot)
        return result

    def take(self, now: float) -> dict[str, tuple[int, list[float]]]:
        """The outage is over (noticed at ``now``): per lane, its ledger's depth and the
        slots booked meanwhile, for the store to add to its own. The lanes booked in the
        outage settle from now on (see the module doc)."""
        with self._lock:
            taken = {lane: (self._depth[lane], times) for lane, times in self._booked.items()}
            self._booked = {}
            self._settle_until = {lane: now + self._period[lane] for lane in self._depth}
        return taken

    def settling(self, lane: str, now: float) -> MemoryStore | None:
        """After an outage: the outage's ledger while ``lane`` settles, else None (the
        store's own ledger)."""
        until = self._settle_until.get(lane)
        return self._fallback if until is not None and now < until else None

    def gathered(self, lane: str) -> MemoryStore | None:
        """After an outage: the outage's in-process store, if ``lane`` was used in it (a
        storm summary gathered there is claimed from there), else None."""
        return self._fallback if lane in self._settle_until else None

    def _start(
        self, fallback: MemoryStore, lane: str, now: float, rates: Sequence[Rate]
    ) -> tuple[Rate, ...]:
        """The lane's share; on its first booking of the outage, the share counted as used."""
        with self._lock:
            if self._fallback is not fallback:  # a new outage: nothing booked in it yet
                self._fallback, self._booked, self._depth = fallback, {}, {}
                self._period, self._settle_until, self._shares = {}, {}, {}
            if lane in self._shares:
                return self._shares[lane]
            # the share is fixed for the outage and its settling: a store back empty (a
            # restart, a failover to a replica that lagged) has forgotten the fleet, and its
            # first check-ins would count this process alone
            share = self._shares[lane] = pacing.share_of(rates, self._sharing(lane))
            self._depth[lane] = pacing.depth(rates)
            self._period[lane] = max((rate.period for rate in rates), default=0.0)
            self._booked[lane] = []
        # as if the share had just been used up: its first send waits a period of it
        fallback.book(lane, [now] * pacing.depth(share))
        return share

    def _record(self, lane: str, slot: float) -> None:
        if math.isfinite(slot):
            with self._lock:
                self._booked.setdefault(lane, []).append(slot)
