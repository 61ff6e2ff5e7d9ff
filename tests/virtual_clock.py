"""Virtual time for the delivery worker: a platform's rolling minute passes in moments.

While skipping is on, the worker's loops do not sleep until their next timer: when no I/O
arrives within a few real milliseconds, the clock is moved to the timer instead. The order
of events stays the one real time would give; only the waiting is gone. Use a transport
without sockets (``httpx.MockTransport``): a real request in flight would see its timeout
jump too.

Two ways in. ``FakeClock`` is the outbox's injected ``Clock`` (``Outbox(..., clock=)``):
only the worker's loop and wall clock are virtual. ``virtual_loops()`` reaches further:
freezegun, ticking, stands in for ``time.time`` and ``time.monotonic`` everywhere, and
every loop made meanwhile can skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import math
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, TypeVarTuple

from freezegun import freeze_time

__all__ = ["FakeClock", "VirtualClock", "virtual_loops"]

_Result = TypeVar("_Result")
_Args = TypeVarTuple("_Args")
_POLL = 0.002  # real seconds a loop waits for I/O before its wait is skipped


class _Skipping(Protocol):
    """What a skipping loop asks of its clock."""

    @property
    def skipping(self) -> bool: ...

    def leap(self, seconds: float) -> None: ...


class VirtualClock:
    """The frozen, ticking clock and the switch that lets loops skip their waits."""

    def __init__(self, frozen: Any) -> None:
        self._frozen = frozen  # freezegun's ticking factory
        self._skipping = threading.Event()
        self._lock = threading.Lock()

    def skip(self, on: bool = True) -> None:
        """From now on (or no longer), loops jump over their waits."""
        if on:
            self._skipping.set()
        else:
            self._skipping.clear()

    @property
    def skipping(self) -> bool:
        return self._skipping.is_set()

    def advance(self, seconds: float) -> None:
        # from the current time, real time since the last move included (freezegun's own
        # tick() would count from the last move and lose it: time would step back)
        with self._lock:
            self._frozen.move_to(self._frozen() + datetime.timedelta(seconds=seconds))

    leap = advance


class FakeClock:
    """An outbox's clock in virtual time: real time passes, and while skipping (up to a
    moment, or for good) its loops jump over their idle waits."""

    def __init__(self) -> None:
        self._offset = 0.0  # seconds skipped so far
        self._until = -math.inf  # skipping while now() is before this
        self._lock = threading.Lock()

    def now(self) -> float:
        """The worker loop's time."""
        return time.monotonic() + self._offset

    def wall(self) -> float:
        return time.time() + self._offset

    def new_loop(self) -> asyncio.AbstractEventLoop:
        # no wait for I/O before a skip: only the loop's own thread moves this clock, and a
        # wake-up from another thread is seen at the next wait instead
        return _VirtualLoop(self, timer=self.now, poll=0.0)

    def skip(self, until: float = math.inf) -> None:
        """From now on, loops jump over their waits (up to ``until``, loop time)."""
        self._until = until

    def run_for(self, seconds: float) -> None:
        """Skip ``seconds`` ahead, and return once the loops got there."""
        until = self.now() + seconds
        self.skip(until)
        while self.now() < until:
            time.sleep(_POLL)

    @property
    def skipping(self) -> bool:
        return self.now() < self._until

    def leap(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, min(seconds, self._until - self.now()))


class _InFlight:
    """Jobs a loop handed to its thread pool (a render) that have not come back: while one
    is out, the loop is not idle, and its wait must not be skipped — the job's result
    arrives as I/O, however long it takes in real time."""

    count = 0


class _SkippingSelector(selectors.DefaultSelector):
    """``poll``: real seconds to wait for I/O before skipping a wait."""

    def __init__(self, clock: _Skipping, in_flight: _InFlight, poll: float) -> None:
        super().__init__()
        self._clock = clock
        self._in_flight = in_flight
        self._poll = poll

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        skipping = self._clock.skipping and not self._in_flight.count
        if timeout is None or timeout <= _POLL or not skipping:
            return list(super().select(timeout))
        ready = list(super().select(self._poll))  # a wake-up from another thread, say
        if not ready:
            self._clock.leap(timeout - self._poll)
        return ready


class _VirtualLoop(asyncio.SelectorEventLoop):
    """``timer``: the loop's own time, when it is not ``time.monotonic`` (freezegun's)."""

    def __init__(
        self, clock: _Skipping, timer: Callable[[], float] | None = None, poll: float = _POLL
    ) -> None:
        self._in_flight = _InFlight()
        self._timer = timer
        super().__init__(_SkippingSelector(clock, self._in_flight, poll))

    def time(self) -> float:
        return self._timer() if self._timer is not None else super().time()

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[*_Args], _Result],
        *args: *_Args,
    ) -> asyncio.Future[_Result]:
        job = super().run_in_executor(executor, func, *args)
        self._in_flight.count += 1
        job.add_done_callback(self._back)
        return job

    def _back(self, job: asyncio.Future[Any]) -> None:
        self._in_flight.count -= 1

    async def shutdown_default_executor(self, *timeout: float | None) -> None:
        # the pool's threads are joined in a thread of their own; while they are, the wait
        # for them is not idle either (else Python 3.12+ skips over its 300 s bound at once
        # and warns that the threads were not joined)
        self._in_flight.count += 1
        try:
            await super().shutdown_default_executor(*timeout)
        finally:
            self._in_flight.count -= 1


class _Policy(asyncio.DefaultEventLoopPolicy):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return _VirtualLoop(self._clock)


@contextlib.contextmanager
def virtual_loops(start: str = "2026-03-01 09:00:00") -> Iterator[VirtualClock]:
    """Frozen, ticking time from ``start``; every event loop made meanwhile can skip."""
    previous = asyncio.get_event_loop_policy()
    with freeze_time(start, tick=True) as frozen:
        clock = VirtualClock(frozen)
        asyncio.set_event_loop_policy(_Policy(clock))
        try:
            yield clock
        finally:
            asyncio.set_event_loop_policy(previous)
