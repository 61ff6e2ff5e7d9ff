"""The application's own code (a ``__str__``, a ``__repr__``) run under a time budget.

Building an event runs such code in the middle of the application's failing request; see
``run_budgeted`` for how it is bounded, and ``event_budget`` for the bound of one event.
"""

from __future__ import annotations

import contextlib
import math
import os
import reprlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from erralert._core import event_origin

__all__ = ["UNTRACED_FILES", "OverBudget", "event_budget", "run_budgeted"]

# Seconds of the application's own code (a __str__, a __repr__) that one call may run, and
# that building one event may run in all; see run_budgeted.
_CALL_BUDGET = 0.1
_EVENT_BUDGET = 0.5
_LATE = 0.01  # a frame still running this long past the deadline is stopped


# -- the application's code under a time budget ------------------------------------------------
# str() of the exception and repr() of locals and extra values run the application's own
# code, in the middle of its failing request: a __repr__ may query a database or never
# return. A thread cannot be killed, and an alarm signal works in the main thread only and
# would take the application's own SIGALRM. So:
#  - values of plain builtin types are repr()'d directly: no application code runs (see
#    safe_text);
#  - anything else runs with a trace function installed on this thread only, which raises
#    OverBudget inside the frame that keeps running past the deadline: at most
#    _CALL_BUDGET seconds per call and _EVENT_BUDGET for all of one event, after which the
#    remaining objects are not asked at all ("<repr() timed out: …>");
#  - when a tracer is already installed (a debugger, coverage), it is left in place and
#    the call runs without a budget: replacing it would break the tool that is watching.
# Limits: C code that never returns (a blocking read, a lock this thread already holds)
# cannot be interrupted by anything in the process, and code that catches BaseException
# and carries on outlives the tracer (CPython removes a tracer that raised).
class OverBudget(BaseException):
    """Raised into application code that ran past its budget: a BaseException, so that
    the code's own ``except Exception`` (reprlib's too) cannot swallow it."""


class _BudgetState(threading.local):
    deadline = math.inf  # monotonic time at which the event being built runs out
    running = False  # a budgeted call is running on this thread


_budget = _BudgetState()
# our own frames are not line-traced: their loops are bounded, and the deadline is still
# checked each time they call into anything else. "Ours" is every module that builds an
# event, since all of them may run under the tracer (a __repr__ that logs an error may
# build a whole event inside its budgeted call); named by path, because they import this
# module.
_HERE = os.path.dirname(__file__)
UNTRACED_FILES = frozenset(
    {
        reprlib.__file__,
        event_origin.__file__,
        *(
            os.path.join(_HERE, f"{name}.py")
            for name in (
                "budget",
                "safe_text",
                "chain",
                "live_frames",
                "traceback_text",
                "tags_and_extra",
                "events",
            )
        ),
    }
)


def run_budgeted(call: Callable[[object], str], obj: object) -> str:
    """``call(obj)``, interrupted with ``OverBudget`` when its budget runs out."""
    state = _budget
    if state.running:
        return call(obj)  # nested (a __repr__ calling safe_repr): the outer budget holds
    now = time.monotonic()
    deadline = min(now + _CALL_BUDGET, state.deadline)
    if deadline <= now:
        raise OverBudget
    if sys.gettrace() is not None:
        return call(obj)

    late: dict[int, float] = {}  # frames running past the deadline: since when

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if event == "call":
            if frame.f_code.co_filename in UNTRACED_FILES:
                return None
            # per instruction, not per line: `while True: pass` is one instruction jumping
            # to itself, which never starts a new line
            frame.f_trace_opcodes = True
            return tracer
        if event == "return":
            late.pop(id(frame), None)
            return tracer
        # Only a frame that keeps running past the deadline is stopped. The garbage
        # collector runs weakref callbacks and __del__ methods inside whatever code is
        # running, and an exception there would be lost ("Exception ignored in ...") along
        # with the cleanup it cut short; those return within microseconds.
        now = time.monotonic()
        if (
            now >= deadline
            and now - late.setdefault(id(frame), now) >= _LATE
            and _runs_under_budget(frame)
        ):
            raise OverBudget
        return tracer

    state.running = True
    try:
        sys.settrace(tracer)
        return call(obj)
    finally:
        sys.settrace(None)
        state.running = False


def _runs_under_budget(frame: FrameType | None) -> bool:
    """Whether ``frame`` was called from the budgeted call. Greenlets (gevent) switch
    stacks on one thread: code of another request that runs meanwhile is left alone."""
    while frame is not None:
        if frame.f_code is _RUN_BUDGETED:
            return True
        frame = frame.f_back
    return False


_RUN_BUDGETED = run_budgeted.__code__


@contextlib.contextmanager
def event_budget() -> Iterator[None]:
    """Bound the application code that building one event runs, all calls together."""
    state = _budget
    previous = state.deadline
    state.deadline = min(previous, time.monotonic() + _EVENT_BUDGET)
    try:
        yield
    finally:
        state.deadline = previous
