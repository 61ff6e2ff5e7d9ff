"""The delivery worker's clocks, injected: a test can run an outage of minutes in moments.

The worker reads two clocks. Its event loop keeps the lanes' time: ``loop.time()`` places
slots, pauses and ages, and the loop's timers are the lanes' waits. The wall clock is the
time shared with other processes through the store (bookings, storm summaries) and stamped
on requests. A ``Clock`` gives both: the real one is ``time.time`` and a new asyncio loop;
a test's makes loops whose idle waits it skips, and a wall clock that moves with them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Where the delivery worker reads the time and gets the loop it waits on."""

    def wall(self) -> float:
        """Now, in UNIX time."""
        ...

    def new_loop(self) -> asyncio.AbstractEventLoop:
        """A new event loop for the worker: its ``time()`` is the lanes' clock."""
        ...


class SystemClock:
    """The real clocks: ``time.time`` and asyncio's own event loop."""

    def wall(self) -> float:
        return time.time()

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()


SYSTEM_CLOCK = SystemClock()
