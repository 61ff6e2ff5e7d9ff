"""Virtual time for the delivery worker: a platform's rolling minute passes in moments.

freezegun, ticking, stands in for ``time.time`` and ``time.monotonic`` everywhere — the
clock of the worker's asyncio loop included. While ``skip()`` is on, the worker's loops
(made with ``virtual_loops()`` in force) do not sleep until their next timer: when no I/O
arrives within a few real milliseconds, the clock is moved to the timer instead. The order
of events stays the one real time would give; only the waiting is gone. Use a transport
without sockets (``httpx.MockTransport``): a real request in flight would see its timeout
jump too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import selectors
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, TypeVarTuple

from freezegun import freeze_time

__all__ = ["VirtualClock", "virtual_loops"]

_Result = TypeVar("_Result")
_Args = TypeVarTuple("_Args")
_POLL = 0.002  # real seconds a loop waits for I/O before its wait is skipped


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


class _InFlight:
    """Jobs a loop handed to its thread pool (a render) that have not come back: while one
    is out, the loop is not idle, and its wait must not be skipped — the job's result
    arrives as I/O, however long it takes in real time."""

    count = 0


class _SkippingSelector(selectors.DefaultSelector):
    def __init__(self, clock: VirtualClock, in_flight: _InFlight) -> None:
        super().__init__()
        self._clock = clock
        self._in_flight = in_flight

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        skipping = self._clock.skipping and not self._in_flight.count
        if timeout is None or timeout <= _POLL or not skipping:
            return list(super().select(timeout))
        ready = list(super().select(_POLL))  # a wake-up from another thread, say
        if not ready:
            self._clock.advance(timeout - _POLL)
        return ready


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        self._in_flight = _InFlight()
        super().__init__(_SkippingSelector(clock, self._in_flight))

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
