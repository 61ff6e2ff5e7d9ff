"""Pacing sends to a chat platform under its rolling-window limits.

The platforms count sends in a ROLLING window: "at most ``limit`` messages in any
``period`` seconds". A token bucket would be wrong — after a burst of 20 to DingTalk
(20 per 60 s) it refills a token in 3 s, but DingTalk refuses the 21st message until the
first of the burst is 60 s old. So the limiter keeps the recent send times and allows a
send at ``t`` when, for every rate, fewer than ``limit`` sends lie in ``(t - period, t]``:
a send at ``s`` stops counting at exactly ``s + period``.

Pure logic: every method takes ``now`` (any monotonic seconds); there is no clock inside.

``reserve`` is the form the outbox uses: a send is booked for the earliest time the rates
allow after every send already booked, so the booked times are the channel's queue. Stores
keep the booked times of a channel (``Ledger.reserve`` in ``erralert._stores.base``) — in
the process for ``memory://``, in the SQLite file or in Redis for shared stores — so that
every process of an app paces the same channel under one budget.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import add

__all__ = [
    "MAX_CAPACITY",
    "Rate",
    "RollingLimiter",
    "depth",
    "next_slot",
    "reserve",
    "share_of",
]

MAX_CAPACITY = 10_000  # `capacity` answers at most this (and exactly this when unlimited)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` messages in any rolling ``period`` seconds."""

    limit: int
    period: float

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


def depth(rates: Sequence[Rate]) -> int:
    """How many recent sends ``next_slot`` looks back at (the largest limit)."""
    return max((rate.limit for rate in rates), default=0)


def share_of(rates: Sequence[Rate], processes: int) -> tuple[Rate, ...]:
    """One process's part of ``rates`` when ``processes`` send to one robot without a shared
    ledger: together they keep every rate. ``limit // processes`` per period while that is
    at least one; else one send per ``period * processes / limit`` seconds (20 per 60 s
    among 50 processes: one per 150 s each). Never more than the rate itself."""
    if processes <= 1:
        return tuple(rates)
    shares = []
    for rate in rates:
        if rate.limit >= processes:
            shares.append(Rate(rate.limit // processes, rate.period))
        else:
            shares.append(Rate(1, rate.period * processes / rate.limit))
    return tuple(shares)


def next_slot(times: Sequence[float], rates: Sequence[Rate], earliest: float) -> float:
    """The earliest time at or after ``earliest`` (and after the last of ``times``, which
    are ascending) at which one more send keeps every rate: fewer than ``limit`` sends in
    ``(t - period, t]``, the ``limit``-th most recent having left the period."""
    t = earliest
    if times and times[-1] > t:
        t = times[-1]
    count = len(times)
    for rate in rates:
        if count >= rate.limit:
            free = times[-rate.limit] + rate.period
            if free > t:
                t = free
    return t


def reserve(
    times: list[float],
    rates: Sequence[Rate],
    now: float,
    horizon: float,
    *,
    keep: int = 0,
    max_waiting: int | None = None,
) -> float | None:
    """Book a send in ``times`` (ascending, changed in place, trimmed to ``depth(rates)``)
    at the earliest slot, if it is within ``horizon`` seconds of ``now`` with ``keep`` more
    slots still free within the horizon after it (room for a storm summary), and fewer
    than ``max_waiting`` sends are booked after ``now``. Returns the slot, or None."""
    if not rates:
        return now  # unlimited: nothing to book
    if max_waiting is not None:
        waiting = len(times) - bisect_right(times, now)
        if waiting >= max_waiting:
            return None
    slot = next_slot(times, rates, now)
    end = now + horizon
    if slot > end:
        return None
    if keep:
        trial = [*times, slot]
        for _ in range(keep):
            extra = next_slot(trial, rates, now)
            if extra > end:
                return None
            trial.append(extra)
    times.append(slot)
    del times[: max(0, len(times) - depth(rates))]
    return slot


class RollingLimiter:
    """Sends allowed under every one of ``rates`` (none: unlimited). Not thread-safe: one
    delivery worker owns it. Times passed to ``record`` should not go backwards; if they
    do, the send is taken as happening at the latest recorded time (the safe side)."""

    def __init__(self, rates: Sequence[Rate]) -> None:
        for rate in rates:
            if rate.limit < 1 or not rate.period > 0:
                raise ValueError(f"a rate needs limit >= 1 and period > 0, got {rate}")
        self.rates: tuple[Rate, ...] = tuple(rates)
        self._pairs = tuple((rate.limit, rate.period) for rate in self.rates)
        # for `capacity`'s bisect: when a send at s stops counting, s + period
        self._expiries: tuple[tuple[int, Callable[[float], float]], ...] = tuple(
            (limit, partial(add, period)) for limit, period in self._pairs
        )
        # the largest limit bounds what any rate can look back at: sends[-limit]
        depth = max((limit for limit, _ in self._pairs), default=0)
        self._sends: deque[float] = deque(maxlen=depth)

    @property
    def unlimited(self) -> bool:
        return not self.rates

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until one more send is allowed under every rate (0.0: now)."""
        return max(0.0, next_slot(self._sends, self.rates, now) - now)

    def record(self, now: float) -> None:
        """A send happened at ``now``."""
        sends = self._sends
        if sends and now < sends[-1]:
            now = sends[-1]
        sends.append(now)

    def capacity(self, now: float, horizon: float) -> int:
        """How many sends could start in ``[now, now + horizon)`` if each went as early as
        allowed (``horizon=0``: how many could go right now), at most ``MAX_CAPACITY``.

        The end is excluded so that an idle 20-per-60 s limiter has a 60 s capacity of 20,
        not 40 (20 now and 20 more at exactly +60 s). Simulated, so exact for mixed rates."""
        if self.unlimited:
            return MAX_CAPACITY
        if horizon < 0:
            return 0
        end = now + horizon
        times = list(self._sends)  # ascending; the simulated sends are appended to it
        pairs = self._pairs
        sent = 0
        t = now
        while sent < MAX_CAPACITY:
            # room at t under every rate: sends still counted at t are those with
            # s + period > t (the same sum as in `delay` and below, so floats agree)
            room = MAX_CAPACITY - sent
            for limit, expiry in self._expiries:
                counted = len(times) - bisect_right(times, t, key=expiry)
                room = min(room, limit - counted)
            if room > 0:
                times.extend([t] * room)  # as early as allowed: all of them at t
                sent += room
            # some rate is full now; the next send waits for the earliest time all have room
            t_next = t
            for limit, period in pairs:
                if len(times) >= limit:
                    t_next = max(t_next, times[-limit] + period)
            if not t_next < end:
                break
            t = t_next
        return sent
