"""What one render may do in all: loop iterations, what it builds, and processor time.

A ``Budget`` is what is left of one render's allowance; the render in progress carries it
(``erralert._render.mode``), and the sandbox spends it.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

from jinja2.exceptions import SecurityError

__all__ = ["MAX_BUILT", "MAX_RENDER_SECONDS", "MAX_STEPS", "Budget", "counted", "size"]

# What one render may do in all: loop iterations plus range() items, and characters (or
# items) it builds. Each bound alone is not enough: two nested loops of 10 000, or 10 000
# outputs of a 100 000-character string, stay under every per-operation limit and still
# take the worker (and every alert behind it) for minutes and gigabytes.
MAX_STEPS = 1_000_000
MAX_BUILT = 5_000_000
# ... and the processor time it may take: a render that computes without building or
# looping much (a million `s.count(x)` of a long string, filters chained hundreds of times)
# stays under both allowances and can still take minutes. Checked at every loop item,
# call, filter and built value; past it the template is abandoned for the built-in one.
# The clock is the rendering thread's CPU time: what the render itself spent, whatever the
# rest of the machine does, and a clock no test's frozen time can stop or jump. Less the
# garbage collector's: a collection runs on whichever thread allocates when one is due, and
# a full one in an application's large heap takes hundreds of milliseconds that are not the
# template's (a render that fell back to the built-in template for that would drop the
# team's custom message at random).
MAX_RENDER_SECONDS = 0.5
_CLOCK_EVERY = 32  # checkpoints between two readings of the clock (a reading is a syscall)


class _CollectorTime(threading.local):
    """The CPU time this thread has spent in the garbage collector since the first render."""

    started: float | None = None
    spent = 0.0


_collector = _CollectorTime()
_watching = False
_watch_lock = threading.Lock()


def _on_collection(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _collector.started = time.thread_time()
    elif _collector.started is not None:
        _collector.spent += time.thread_time() - _collector.started
        _collector.started = None


def _watch_collector() -> None:
    """Measure collections from the first render on (not at import: an application that
    never renders pays nothing)."""
    global _watching
    with _watch_lock:
        if not _watching:
            gc.callbacks.append(_on_collection)
            _watching = True


class Budget:
    """What is left of one render's allowance (``MAX_STEPS``, ``MAX_BUILT``,
    ``MAX_RENDER_SECONDS``)."""

    __slots__ = ("built", "checkpoints", "deadline", "steps")

    def __init__(self) -> None:
        _watch_collector()
        self.steps = MAX_STEPS
        self.built = MAX_BUILT
        # the deadline on a clock that stands still while the collector runs
        self.deadline = _render_clock() + MAX_RENDER_SECONDS
        self.checkpoints = 0

    def check_time(self) -> None:
        """Refuse to go on past the render's time; the clock is read at every
        ``_CLOCK_EVERY``-th call."""
        self.checkpoints += 1
        if self.checkpoints % _CLOCK_EVERY == 0 and _render_clock() > self.deadline:
            raise SecurityError(f"a render may take at most {MAX_RENDER_SECONDS} s")

    def step(self, count: int) -> None:
        """Count ``count`` loop iterations or ``range()`` items."""
        self.steps -= count
        if self.steps < 0:
            raise SecurityError(f"more than {MAX_STEPS} loop iterations in one render")
        self.check_time()

    def spend(self, size: int) -> None:
        """Count ``size`` characters or items about to be built; refuse past the allowance
        (checked before building, so a refused string is never allocated)."""
        self.built -= size
        if self.built < 0:
            raise SecurityError(f"a template may build at most {MAX_BUILT} characters")
        self.check_time()


def _render_clock() -> float:
    """This thread's CPU time, less what it spent in the garbage collector."""
    return time.thread_time() - _collector.spent


def counted(iterable: Any, budget: Budget) -> Iterator[Any]:
    """``iterable``'s items, each a step of ``budget``."""
    for item in iterable:
        budget.step(1)
        yield item


def size(value: Any, limit: int = MAX_BUILT + 1) -> int:
    """How many characters and items ``value`` holds, counting shared parts each time they
    occur (``['x' * 100000] * 100000`` is 10**10, as its text would be), at most about
    ``limit``."""
    sizes: dict[int, int] = {}

    def measure(item: Any) -> int:
        if isinstance(item, str | bytes | bytearray):
            return len(item)
        if isinstance(item, range):
            return len(item)
        if not isinstance(item, list | tuple | dict | set | frozenset):
            return 1
        known = sizes.get(id(item))
        if known is not None:
            return known
        sizes[id(item)] = 1  # a cycle counts once
        total = len(item)
        parts = itertools.chain.from_iterable(item.items()) if isinstance(item, dict) else item
        for part in parts:
            total += measure(part)
            if total > limit:
                break
        sizes[id(item)] = total
        return total

    return measure(value)
