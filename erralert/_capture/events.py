"""Building events from exceptions and messages (no I/O beyond reading source lines).

Every function here runs while the application is already failing, on whatever it threw:
exceptions whose ``__str__`` raises, dynamic classes, cyclic chains, 10 000-frame
recursion. Nothing here may raise, and the work is bounded (frames, exceptions, locals,
string lengths), the application's own ``__str__`` and ``__repr__`` code included: it runs
under a time budget (see ``_run_budgeted``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import linecache
import math
import os
import reprlib
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import CodeType, FrameType, TracebackType
from typing import Any

from erralert._core.event import Event, ExceptionInfo, Frame, Request, clean_text
from erralert._core.frames import (
    absolute_path,
    code_hidden,
    code_info,
    display_path,
    type_names,
    walk_traceback,
)

__all__ = [
    "build_exception_event",
    "build_message_event",
    "format_traceback",
    "innermost_in_app",
    "new_event_id",
    "safe_repr",
    "safe_str",
]

MAX_MESSAGE = 10_000
MAX_TITLE = 200
MAX_CONTEXT_LINE = 300
MAX_EXCEPTIONS = 25
HEAD_FRAMES = 20  # a very deep stack keeps its first frames (how it started) ...
TAIL_FRAMES = 80  # ... and its last ones (where it failed); the middle is counted
MAX_LOCALS = 30
MAX_LOCAL_REPR = 200
_MAX_NAME = 200  # class, module, function and local names
_MAX_PATH = 1000
_MAX_TAGS = 100
_MAX_TAG_KEY = 200
_MAX_TAG_VALUE = 1000
_MAX_EXTRA_DEPTH = 8
_MAX_EXTRA_ITEMS = 1000  # per container
_MAX_EXTRA_VALUES = 5000  # in all of extra: a dict of 1000 lists of 1000 is still one alert
_MAX_EXTRA_REPR = 1000
# Seconds of the application's own code (a __str__, a __repr__) that one call may run, and
# that building one event may run in all; see _run_budgeted.
_CALL_BUDGET = 0.1
_EVENT_BUDGET = 0.5
_LATE = 0.01  # a frame still running this long past the deadline is stopped
# ~1200 digits: nobody reads more, and past 4300 digits CPython refuses to print an int
_MAX_INT_BITS = 4000
_MAX_REPR_INT_BITS = 14_000  # ~4200 digits: what Python itself prints by default

_CAUSE_MESSAGE = "The above exception was the direct cause of the following exception:"
_CONTEXT_MESSAGE = "During handling of the above exception, another exception occurred:"


# -- the application's code under a time budget ------------------------------------------------
# str() of the exception and repr() of locals and extra values run the application's own
# code, in the middle of its failing request: a __repr__ may query a database or never
# return. A thread cannot be killed, and an alarm signal works in the main thread only and
# would take the application's own SIGALRM. So:
#  - values of the builtin types below are repr()'d directly: no application code runs;
#  - anything else runs with a trace function installed on this thread only, which raises
#    _OverBudget inside the frame that keeps running past the deadline: at most
#    _CALL_BUDGET seconds per call and _EVENT_BUDGET for all of one event, after which the
#    remaining objects are not asked at all ("<repr() timed out: …>");
#  - when a tracer is already installed (a debugger, coverage), it is left in place and
#    the call runs without a budget: replacing it would break the tool that is watching.
# Limits: C code that never returns (a blocking read, a lock this thread already holds)
# cannot be interrupted by anything in the process, and code that catches BaseException
# and carries on outlives the tracer (CPython removes a tracer that raised).
class _OverBudget(BaseException):
    """Raised into application code that ran past its budget: a BaseException, so that
    the code's own ``except Exception`` (reprlib's too) cannot swallow it."""


class _BudgetState(threading.local):
    deadline = math.inf  # monotonic time at which the event being built runs out
    running = False  # a budgeted call is running on this thread


_budget = _BudgetState()
_PLAIN_TYPES = frozenset(
    id(t) for t in (type(None), bool, int, float, complex, str, bytes, bytearray, range)
)
# our own frames are not line-traced: their loops are bounded, and the deadline is still
# checked each time they call into anything else
_UNTRACED_FILES = frozenset({__file__, reprlib.__file__})


def _run_budgeted(call: Callable[[object], str], obj: object) -> str:
    """``call(obj)``, interrupted with ``_OverBudget`` when its budget runs out."""
    state = _budget
    if state.running:
        return call(obj)  # nested (a __repr__ calling safe_repr): the outer budget holds
    now = time.monotonic()
    deadline = min(now + _CALL_BUDGET, state.deadline)
    if deadline <= now:
        raise _OverBudget
    if sys.gettrace() is not None:
        return call(obj)

    late: dict[int, float] = {}  # frames running past the deadline: since when

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if event == "call":
            if frame.f_code.co_filename in _UNTRACED_FILES:
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
            raise _OverBudget
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


_RUN_BUDGETED = _run_budgeted.__code__
_PLAIN_CONTAINERS = frozenset(id(t) for t in (list, tuple, set, frozenset, deque))


def _is_plain(obj: object, level: int) -> bool:
    """Whether the bounded repr of ``obj`` runs no application code: a value of a plain
    type, or a builtin container (exact types) of them as far as the repr shows it. Most
    locals are; they need no budget (whose tracer costs microseconds per Python call)."""
    kind = id(type(obj))
    if kind in _PLAIN_TYPES:
        return True
    if level >= _repr.maxlevel:
        return kind in _PLAIN_CONTAINERS or type(obj) is dict  # shown as "[...]"
    if kind in _PLAIN_CONTAINERS:
        items = itertools.islice(obj, _repr.maxlist)  # type: ignore[call-overload]
        return all(_is_plain(item, level + 1) for item in items)
    if type(obj) is dict:
        pairs = itertools.islice(dict.items(obj), _repr.maxdict)
        return all(_is_plain(k, level + 1) and _is_plain(v, level + 1) for k, v in pairs)
    return False


@contextlib.contextmanager
def _event_budget() -> Iterator[None]:
    """Bound the application code that building one event runs, all calls together."""
    state = _budget
    previous = state.deadline
    state.deadline = min(previous, time.monotonic() + _EVENT_BUDGET)
    try:
        yield
    finally:
        state.deadline = previous


_TYPE_NAME = type.__dict__["__name__"]


def _class_name(obj: object) -> str:
    """``type(obj).__name__``, read so that a metaclass property cannot raise."""
    try:
        name = _TYPE_NAME.__get__(type(obj))
    except Exception:
        name = None
    return _name(name) or "?"


# -- safe text ---------------------------------------------------------------------------------
_clean = clean_text


def _cut(s: str, limit: int) -> str:
    # "..." marks the cut (and lets the scrubber see that a URL password lost its "@")
    return s if len(s) <= limit else s[: max(limit - 3, 0)] + "..."


def _name(s: object, limit: int = _MAX_NAME) -> str:
    """A name for an event (class, module, function, file): plain, clean, at most
    ``limit`` characters (also when its escapes made it longer)."""
    if not isinstance(s, str):
        return ""
    return _cut(_clean(str.__str__(s)[: limit + 1]), limit)


def safe_str(obj: object, limit: int = MAX_MESSAGE, *, say_cut: bool = False) -> str:
    """``str(obj)`` that never raises (``"<exception str() failed: TypeName>"`` instead),
    nor runs for long (``"<str() timed out: TypeName>"``), without NUL characters or lone
    surrogates, cut to ``limit`` characters (``say_cut``: ending in words that say how much
    was cut, for the messages chat readers see)."""
    try:
        s = str(obj) if _str_runs_no_app_code(obj) else _run_budgeted(str, obj)
        if type(s) is not str:  # a __str__ returning a str subclass: keep plain data
            s = str.__str__(s)
    except KeyboardInterrupt:
        raise
    except _OverBudget:
        return f"<str() timed out: {_class_name(obj)}>"
    except BaseException:  # SystemExit, GeneratorExit from a __str__ are its failure too
        return f"<exception str() failed: {_class_name(obj)}>"
    if say_cut and len(s) > limit:
        kept = limit
        for _ in range(2):  # the note's own length moves the cut: settle it
            note = f"… [truncated, {len(s) - kept} more characters]"
            kept = max(limit - len(note), 0)
        return _clean(s[:kept] + note)
    return _clean(_cut(s, limit))


_BASE_STR = BaseException.__str__
_BASE_ARGS = BaseException.__dict__["args"]


def _str_runs_no_app_code(obj: object) -> bool:
    """Whether ``str(obj)`` runs only the interpreter's own code: a value of a plain type,
    or an exception whose class keeps ``BaseException.__str__`` (no metaclass of its own)
    over arguments of plain types — ``ValueError("order 42 failed")``. Those need no
    budget (its tracer costs microseconds to install)."""
    kind = type(obj)
    if id(kind) in _PLAIN_TYPES:
        return True
    if type(kind) is not type or not issubclass(kind, BaseException):
        return False
    if kind.__str__ is not _BASE_STR:
        return False
    return all(id(type(arg)) in _PLAIN_TYPES for arg in _BASE_ARGS.__get__(obj))


class _BoundedRepr(reprlib.Repr):
    """reprlib's limits, made to hold for every container: reprlib sorts whole sets and
    dicts before cutting them (a million keys is a million-key sort) and hands subclasses
    (OrderedDict, defaultdict, a list subclass) to their unbounded repr()."""

    def _items(self, x: Iterable[Any], n: int, level: int, left: str, right: str, most: int) -> str:
        if not n:
            return f"{left}{right}"
        if level <= 0:
            return f"{left}...{right}"
        pieces = [self.repr1(item, level - 1) for item in itertools.islice(x, most)]
        if n > most:
            pieces.append("...")
        return f"{left}{', '.join(pieces)}{right}"

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in itertools.islice(dict.items(x), self.maxdict)
        ]
        if len(x) > self.maxdict:
            pieces.append("...")
        return "{" + ", ".join(pieces) + "}"

    def repr_int(self, x: int, level: int) -> str:
        # Printing an int is quadratic in its digits: refuse past ~4200 digits as Python
        # does past 4300, also when its limit is lifted (sys.set_int_max_str_digits(0)),
        # where a huge one would take minutes, in C, beyond any budget.
        if x.bit_length() > _MAX_REPR_INT_BITS:
            raise ValueError(f"an int of {x.bit_length()} bits")
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        # reprlib has no rule for bytes: it would repr all 10 MB of them before cutting
        if len(x) <= self.maxstring:
            return repr(x)
        half = max(self.maxstring // 2 - 2, 0)
        return f"{repr(x[:half])[:-1]}...{repr(x[-half:])[2:]}"

    def repr_bytearray(self, x: bytearray, level: int) -> str:
        if len(x) <= self.maxstring:
            return repr(x)
        return f"bytearray({self.repr_bytes(bytes(x[: self.maxstring]), level)}...)"

    def repr_set(self, x: set[Any], level: int) -> str:
        return self._items(x, len(x), level, "{", "}", self.maxset) if x else "set()"

    def repr_frozenset(self, x: frozenset[Any], level: int) -> str:
        if not x:
            return "frozenset()"
        return self._items(x, len(x), level, "frozenset({", "})", self.maxfrozenset)

    def repr_instance(self, x: Any, level: int) -> str:
        name = type(x).__name__
        if isinstance(x, dict):
            return f"{name}({self.repr_dict(x, level)})"
        fields = getattr(type(x), "_fields", None)
        if isinstance(x, tuple) and isinstance(fields, tuple):  # a namedtuple
            pieces = [
                f"{field}={self.repr1(value, level - 1)}"
                for field, value in itertools.islice(zip(fields, x, strict=False), self.maxtuple)
            ]
            return f"{name}({', '.join(pieces)}{', ...' if len(x) > self.maxtuple else ''})"
        if isinstance(x, list | tuple | deque):
            return f"{name}({self._items(x, len(x), level, '[', ']', self.maxlist)})"
        if isinstance(x, set | frozenset):
            return f"{name}({self._items(x, len(x), level, '{', '}', self.maxset)})"
        return super().repr_instance(x, level)


def _make_repr() -> reprlib.Repr:
    r = _BoundedRepr()
    # Containers are cut while they are walked, so a million-item list costs as much as
    # a ten-item one; strings are sliced before repr().
    r.maxlevel = 3
    r.maxtuple = r.maxlist = r.maxarray = r.maxdict = 10
    r.maxset = r.maxfrozenset = r.maxdeque = 10
    r.maxstring = MAX_LOCAL_REPR
    r.maxlong = 100
    r.maxother = MAX_LOCAL_REPR
    return r


_repr = _make_repr()


def safe_repr(obj: object, limit: int = MAX_LOCAL_REPR) -> str:
    """A bounded ``repr(obj)`` that never raises (``"<repr() failed: TypeName>"``) nor runs
    for long (``"<repr() timed out: TypeName>"``)."""
    try:
        if _is_plain(obj, 0):
            s = _repr.repr(obj)
        elif issubclass(type(obj), _SHAPED):  # reprlib shows these its own bounded way
            s = _run_budgeted(_repr.repr, obj)
        else:  # the budget's tracer costs per Python call: no reprlib frames under it
            s = _run_budgeted(_instance_repr, obj)
        if type(s) is not str:
            s = str.__str__(s)
    except KeyboardInterrupt:
        raise
    except _OverBudget:
        return f"<repr() timed out: {_class_name(obj)}>"
    except BaseException:
        return f"<repr() failed: {_class_name(obj)}>"
    return _clean(_cut(s, limit))


# what _BoundedRepr (or reprlib) has a rule for; anything else is repr()'d whole and cut
_SHAPED = (dict, list, tuple, set, frozenset, deque, str, bytes, bytearray, int)


def _instance_repr(obj: object) -> str:
    """``repr(obj)`` cut as reprlib cuts an object's repr (head ... tail)."""
    try:
        s = repr(obj)
    except Exception:  # reprlib's own words for it
        return f"<{_class_name(obj)} instance at {id(obj):#x}>"
    most = _repr.maxother
    if len(s) > most:
        head = max(0, (most - 3) // 2)
        tail = max(0, most - 3 - head)
        s = f"{s[:head]}...{s[len(s) - tail :]}"
    return s


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _title(text: str) -> str:
    return _cut(_first_line(text), MAX_TITLE)


# -- exceptions --------------------------------------------------------------------------------
def _type_names(exc: BaseException) -> tuple[str, str]:
    """(qualname, module) of the exception's class; dynamic classes may have anything
    (a ``__module__`` of None, a ``__qualname__`` with lone surrogates, 10 kB long)."""
    qualname, module = type_names(type(exc))
    return _name(qualname), _name(module)


class _Node:
    """One exception while the chain is collected: how it relates to the next one in its
    segment, and the segments of its members when it is an exception group."""

    __slots__ = ("exc", "members", "relation")

    def __init__(self, exc: BaseException, relation: str | None) -> None:
        self.exc = exc
        self.relation = relation
        self.members: list[list[_Node]] = []  # the members kept, each with its chain

    def omitted(self) -> int:
        """Members of this exception group not kept (over budget, or seen already)."""
        if not isinstance(self.exc, BaseExceptionGroup):
            return 0
        return max(len(_group_members(self.exc)) - len(self.members), 0)


def _segment(
    exc: BaseException, relation: str | None, seen: set[int], budget: list[int]
) -> list[_Node]:
    """``exc`` and what it was raised from or while handling, oldest first."""
    nodes: list[_Node] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and budget[0] > 0:
        seen.add(id(current))
        budget[0] -= 1
        nodes.append(_Node(current, relation))
        try:
            cause = current.__cause__
            context = None if current.__suppress_context__ else current.__context__
        except Exception:  # a class overriding them with properties that raise
            cause = context = None
        if isinstance(cause, BaseException):
            current, relation = cause, "cause"
        elif isinstance(context, BaseException):
            current, relation = context, "context"
        else:
            current = None
    nodes.reverse()
    return nodes


def _group_members(exc: BaseException) -> tuple[BaseException, ...]:
    if not isinstance(exc, BaseExceptionGroup):
        return ()
    try:
        members = tuple(exc.exceptions)
    except Exception:
        return ()
    return tuple(m for m in members if isinstance(m, BaseException))


def _collect(exc: BaseException) -> list[tuple[BaseException, str | None, int | None, int]]:
    """The exceptions to report, root cause first and ``exc`` last: (exception, relation
    to the next one, index of the group it belongs to, group members left out). Groups'
    members come before their group; at most ``MAX_EXCEPTIONS``, the chain of ``exc``
    first, then members breadth first, so a huge group cannot crowd out the cause of the
    error."""
    seen: set[int] = set()
    budget = [MAX_EXCEPTIONS]
    top = _segment(exc, None, seen, budget)
    queue = deque(node for node in top if isinstance(node.exc, BaseExceptionGroup))
    while queue and budget[0] > 0:
        node = queue.popleft()
        for member in _group_members(node.exc):
            segment = _segment(member, "group", seen, budget)
            if segment:
                node.members.append(segment)
                queue.extend(n for n in segment if isinstance(n.exc, BaseExceptionGroup))

    ordered: list[_Node] = []
    parents: dict[int, _Node] = {}  # id(member segment head) -> its group

    def flatten(segment: list[_Node]) -> None:
        for node in segment:
            for member_segment in node.members:
                parents[id(member_segment[-1])] = node
                flatten(member_segment)
        ordered.extend(segment)

    flatten(top)
    index = {id(node): i for i, node in enumerate(ordered)}
    result: list[tuple[BaseException, str | None, int | None, int]] = []
    for node in ordered:
        parent = parents.get(id(node))
        parent_index = index[id(parent)] if parent else None
        result.append((node.exc, node.relation, parent_index, node.omitted()))
    return result


# -- frames ------------------------------------------------------------------------------------
def _abs_path(filename: str) -> str:
    try:
        return absolute_path(filename)
    except Exception:  # never lose the frame over its file name
        return filename


def _source_line(
    filename: str, lineno: int, module_globals: dict[str, Any], checked: set[str]
) -> str | None:
    if lineno <= 0:
        return None
    try:
        if filename not in checked:
            # A file edited and reloaded since it was cached (a reload in development)
            # would otherwise show the old lines. Only asked when a code object's frame is
            # first built (see _frame): a reload compiles new code objects.
            checked.add(filename)
            linecache.checkcache(filename)
        line = linecache.getline(filename, lineno, module_globals)
    except Exception:  # a custom loader's get_source() may raise anything
        return None
    if not isinstance(line, str):  # a loader's get_source() may return anything
        return None
    line = line.strip()
    return _clean(_cut(line, MAX_CONTEXT_LINE)) if line else None


def _locals(frame: FrameType) -> dict[str, str] | None:
    try:
        # a module-level frame's locals are its globals: thousands of them
        items = list(itertools.islice(frame.f_locals.items(), 10 * MAX_LOCALS))
    except Exception:
        return None
    result: dict[str, str] = {}
    for name, value in items:
        if len(result) >= MAX_LOCALS:
            break
        # __builtins__, __class__ cells and friends are noise, not the app's state
        if not isinstance(name, str) or (name.startswith("__") and name.endswith("__")):
            continue
        result[_name(name)] = safe_repr(value)
    return result


# (id(code), lineno) -> (code, globals it ran under, its Frame without locals). Everything
# in a Frame but the locals follows from the code object, the line and the module, so an
# error raised again at a known place (the next window's alert, a digest's sample) builds
# its frames from dict lookups, without reading names, paths or source lines again. The
# code object is held so that its id cannot be reused while the entry lives; the globals
# are compared because the same code may run under other globals (exec, runpy).
_frame_cache: dict[tuple[int, int], tuple[CodeType, dict[str, Any], Frame]] = {}
_FRAME_CACHE_MAX = 10_000


def _frame(frame: FrameType, lineno: int, include_locals: bool, checked: set[str]) -> Frame:
    code = frame.f_code
    f_globals = frame.f_globals
    entry = _frame_cache.get((id(code), lineno))
    if entry is not None and entry[0] is code and entry[1] is f_globals:
        built = entry[2]
    else:
        built = _new_frame(code, f_globals, lineno, checked)
    if include_locals and built.in_app:
        # the cached frame without locals, with this occurrence's
        return dataclasses.replace(built, locals=_locals(frame))
    return built


def _new_frame(code: CodeType, f_globals: dict[str, Any], lineno: int, checked: set[str]) -> Frame:
    function, in_app = code_info(code)
    filename = code.co_filename if isinstance(code.co_filename, str) else "<unknown>"
    # a file name may carry lone surrogates (undecodable bytes of the file system) and a
    # module's __name__ may be anything its code set
    built = Frame(
        filename=_name(display_path(filename), _MAX_PATH),
        abs_path=_name(_abs_path(filename), _MAX_PATH),
        lineno=lineno,
        function=_name(function),
        module=_name(f_globals.get("__name__")),
        context_line=_source_line(filename, lineno, f_globals, checked),
        in_app=in_app,
    )
    if len(_frame_cache) >= _FRAME_CACHE_MAX:
        _frame_cache.clear()
    _frame_cache[id(code), lineno] = (code, f_globals, built)
    return built


def _frames(
    stack: list[tuple[FrameType, int]], include_locals: bool
) -> tuple[tuple[Frame, ...], int]:
    # erralert's own frames and the import/run machinery are no part of what failed; left
    # out before the stack is cut, so that the cut's place in the traceback stays right
    stack = [entry for entry in stack if not code_hidden(entry[0].f_code)]
    omitted = 0
    if len(stack) > HEAD_FRAMES + TAIL_FRAMES:
        omitted = len(stack) - HEAD_FRAMES - TAIL_FRAMES
        stack = stack[:HEAD_FRAMES] + stack[-TAIL_FRAMES:]
    checked: set[str] = set()
    return tuple([_frame(f, lineno, include_locals, checked) for f, lineno in stack]), omitted


def _exception_info(
    exc: BaseException,
    message: str,
    relation: str | None,
    parent: int | None,
    members_omitted: int,
    include_locals: bool,
) -> ExceptionInfo:
    type_name, module = _type_names(exc)
    try:
        tb = exc.__traceback__
        stack = walk_traceback(tb if isinstance(tb, TracebackType) else None)
        frames, omitted = _frames(stack, include_locals)
    except Exception:  # never lose the exception itself over its frames
        frames, omitted = (), 0
    return ExceptionInfo(
        type=type_name,
        module=module,
        message=message,
        frames=frames,
        relation=relation,
        parent=parent,
        frames_omitted=omitted,
        members_omitted=members_omitted,
    )


# -- culprit -----------------------------------------------------------------------------------
def _culprit_of(module: str, function: str, path: str, lineno: int) -> str:
    """``"module.function (path:line)"``; ``path`` is the display path (``Frame.filename``)."""
    where = f"{module}.{function}" if module else function
    return f"{where} ({path}:{lineno})"


def _culprit(frames: Sequence[Frame]) -> str:
    if not frames:
        return ""
    frame = next((f for f in reversed(frames) if f.in_app), frames[-1])
    return _culprit_of(frame.module, frame.function, frame.filename, frame.lineno)


def innermost_in_app(stack: Sequence[tuple[FrameType, int]]) -> tuple[FrameType, int] | None:
    """The innermost in-app frame (and its line) of a stack given outermost first: a
    message's culprit."""
    for frame, lineno in reversed(stack):
        if code_info(frame.f_code)[1]:
            return frame, lineno
    return None


def _stack_culprit(stack: Sequence[tuple[FrameType, int]]) -> str:
    found = innermost_in_app(stack)
    if found is None:
        return ""
    frame, lineno = found
    function = code_info(frame.f_code)[0]
    filename = frame.f_code.co_filename
    if not isinstance(filename, str):
        filename = "<unknown>"
    filename = _name(display_path(filename), _MAX_PATH)
    return _culprit_of(_name(frame.f_globals.get("__name__")), _name(function), filename, lineno)


# -- traceback text ----------------------------------------------------------------------------
class _Printer:
    """Python's ``traceback.format_exception`` layout (chains, exception groups), from the
    event's data instead of live objects, without the position markers (``~~~^^^``).

    No marker lines, on every Python: the text is read in a chat message, often on a phone,
    where each marker line costs a line of the platform's length budget (frames cut sooner)
    and wraps into noise at narrow widths, while the source line above it already shows
    what ran. It also keeps the text identical across 3.11-3.13 (3.13 marks more lines
    than 3.11 does), so an alert reads the same whichever Python the app runs on.
    """

    def __init__(self, exceptions: Sequence[ExceptionInfo]) -> None:
        self.exceptions = exceptions
        self.lines: list[str] = []
        self.depth = 0  # exception group nesting
        self.need_close = False
        self.members: dict[int, list[list[int]]] = {}
        self.top: list[list[int]] = []
        segment: list[int] = []
        for i, exc in enumerate(exceptions):
            segment.append(i)
            if exc.relation in ("cause", "context"):
                continue  # the chain goes on with the next exception
            parent = exc.parent
            if (
                exc.relation == "group"
                and isinstance(parent, int)
                and 0 <= parent < len(exceptions)
            ):
                self.members.setdefault(parent, []).append(segment)
            else:
                self.top.append(segment)
            segment = []
        if segment:  # a chain cut short: print what there is
            self.top.append(segment)

    def emit(self, text: str, margin: str = "|") -> None:
        if not self.depth:  # nearly every line; lines are joined with "\n" in the end
            self.lines.append(text)
            return
        prefix = " " * (2 * self.depth) + (f"{margin} " if self.depth else "")
        self.lines.extend(prefix + line for line in text.split("\n"))

    def segment(self, segment: list[int]) -> None:
        for pos, i in enumerate(segment):
            if pos:
                relation = self.exceptions[segment[pos - 1]].relation
                message = _CAUSE_MESSAGE if relation == "cause" else _CONTEXT_MESSAGE
                self.emit(f"\n{message}\n")
            self.exception(i)

    def stack(self, exc: ExceptionInfo) -> None:
        for n, frame in enumerate(exc.frames):
            if exc.frames_omitted and n == min(HEAD_FRAMES, len(exc.frames)):
                self.emit(f"  [... {exc.frames_omitted} frames omitted ...]")
            self.emit(_frame_text(frame))

    def exception(self, i: int) -> None:
        exc = self.exceptions[i]
        groups = self.members.get(i, [])
        omitted = exc.members_omitted if isinstance(exc.members_omitted, int) else 0
        if not groups and omitted <= 0:
            if exc.frames:
                self.emit("Traceback (most recent call last):")
                self.stack(exc)
            self.emit(_exception_line(exc))
            return
        toplevel = self.depth == 0
        if toplevel:
            self.depth += 1
        if exc.frames:
            header = "Exception Group Traceback (most recent call last):"
            self.emit(header, margin="+" if toplevel else "|")
            self.stack(exc)
        self.emit(_exception_line(exc))
        self.need_close = False
        # the members kept, then (like Python past 15 members) how many were left out
        boxes = len(groups) + (1 if omitted > 0 else 0)
        for n in range(boxes):
            last = n == boxes - 1
            if last:
                self.need_close = True  # a nested group may close the box first
            corner = "+-" if n == 0 else "  "
            label = str(n + 1) if n < len(groups) else "..."
            self.lines.append(
                f"{' ' * (2 * self.depth)}{corner}+---------------- {label} ----------------"
            )
            self.depth += 1
            if n < len(groups):
                self.segment(groups[n])
            else:
                self.emit(f"and {omitted} more exception{'s' if omitted > 1 else ''}")
            if last and self.need_close:
                self.lines.append(f"{' ' * (2 * self.depth)}+------------------------------------")
                self.need_close = False
            self.depth -= 1
        if toplevel:
            self.depth = 0


# id(frame) -> (frame, its lines of the traceback), for the frames _frame keeps and hands
# out again (those without locals); held, so that the id is not reused while cached
_frame_text_cache: dict[int, tuple[Frame, str]] = {}


def _frame_text(frame: Frame) -> str:
    entry = _frame_text_cache.get(id(frame))
    if entry is not None and entry[0] is frame:
        return entry[1]
    text = f'  File "{frame.abs_path}", line {frame.lineno}, in {frame.function}'
    if frame.context_line:
        text = f"{text}\n    {frame.context_line}"
    if frame.locals is None:
        if len(_frame_text_cache) >= _FRAME_CACHE_MAX:
            _frame_text_cache.clear()
        _frame_text_cache[id(frame)] = (frame, text)
    return text


def _exception_line(exc: ExceptionInfo) -> str:
    name = exc.type if exc.module in ("builtins", "__main__", "") else f"{exc.module}.{exc.type}"
    return f"{name}: {exc.message}" if exc.message else name


def format_traceback(exceptions: Sequence[ExceptionInfo]) -> str:
    """The text Python would print for these exceptions (as ordered in
    ``Event.exceptions``) minus the position marker lines (``~~~^^^``, see ``_Printer``),
    without the trailing newline."""
    printer = _Printer(exceptions)
    for n, segment in enumerate(printer.top):
        if n:
            printer.emit("")
        printer.segment(segment)
    return "\n".join(printer.lines)


# -- tags and extra ----------------------------------------------------------------------------
def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    try:
        if not tags:
            return {}
        items = list(itertools.islice(tags.items(), _MAX_TAGS))
    except Exception:  # a mapping whose __len__ or items() raises
        return {}
    # keys of any type (1, None, (2, 3)) become their text: a tag is a line of text
    return {safe_str(k, _MAX_TAG_KEY): safe_str(v, _MAX_TAG_VALUE) for k, v in items}


class _Walk:
    """One walk over ``extra``: the containers open on the way (cycles) and how many more
    values may be kept in all."""

    __slots__ = ("active", "left")

    def __init__(self) -> None:
        self.active: set[int] = set()
        self.left = _MAX_EXTRA_VALUES


def _jsonable(value: Any, depth: int, walk: _Walk) -> Any:
    """``value`` as plain JSON data (exact types: subclasses may override anything), or its
    bounded repr when it is not JSON data, too deep or cyclic."""
    walk.left -= 1
    if value is None or isinstance(value, bool):
        return value
    try:
        if isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                return f"<int of {value.bit_length()} bits>"
            return int.__int__(value)
        if isinstance(value, float):
            number = float.__float__(value)
            return number if math.isfinite(number) else repr(number)
        if isinstance(value, str):
            return _clean(_cut(str.__str__(value), MAX_MESSAGE))
        if isinstance(value, Mapping | list | tuple) and depth < _MAX_EXTRA_DEPTH:
            return _container(value, depth, walk)
    except Exception:  # a container whose items() or iteration raises
        pass
    return safe_repr(value, _MAX_EXTRA_REPR)


def _key(key: object) -> str:
    """A JSON object key: extra's keys may be of any type (1, None, (2, 3)), of any size."""
    if type(key) is str:
        return _clean(_cut(key, _MAX_TAG_KEY))
    return safe_str(key, _MAX_TAG_KEY)


def _container(
    value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], depth: int, walk: _Walk
) -> Any:
    if id(value) in walk.active:
        return "[Circular]"
    if walk.left <= 0:
        return "[...]"  # the values kept so far are enough to read
    walk.active.add(id(value))
    try:
        room = max(min(_MAX_EXTRA_ITEMS, walk.left), 0)
        if isinstance(value, Mapping):
            return {
                _key(k): _jsonable(v, depth + 1, walk)
                for k, v in itertools.islice(value.items(), room)
            }
        return [_jsonable(v, depth + 1, walk) for v in itertools.islice(value, room)]
    finally:
        walk.active.discard(id(value))


def _extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        if not extra:
            return {}
    except Exception:  # a mapping whose __len__ raises
        return {}
    result = _jsonable(extra, 0, _Walk())
    return result if isinstance(result, dict) else {"extra": result}


# -- event ids ---------------------------------------------------------------------------------
# uuid4s from os.urandom, fetched for 256 ids at a time: os.urandom releases the GIL, and
# while another thread is busy (the outbox's worker rendering) getting it back can take a
# whole switch interval (5 ms) — per event, on the request's thread. The pool is swapped
# as one tuple and each id takes its own index from the pool's counter: no lock.
_IDS_PER_POOL = 256
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)
_id_pool: tuple[bytes, Iterator[int]] = (b"", iter(()))


def new_event_id() -> str:
    """A random uuid4 as 32 hex digits, like ``uuid.uuid4().hex``."""
    global _id_pool
    pool, counter = _id_pool
    index = next(counter, _IDS_PER_POOL)
    if index >= _IDS_PER_POOL:
        pool, counter = _id_pool = (os.urandom(16 * _IDS_PER_POOL), itertools.count(1))
        index = 0
    value = int.from_bytes(pool[16 * index : 16 * index + 16], "big")
    return f"{value & _UUID4_CLEAR | _UUID4_SET:032x}"


def _new_ids_after_fork() -> None:
    global _id_pool
    _id_pool = (b"", iter(()))  # a child must not hand out its parent's next ids


if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere there is no fork
    os.register_at_fork(after_in_child=_new_ids_after_fork)


# -- events ------------------------------------------------------------------------------------
@functools.cache
def _hostname() -> str:
    try:
        return socket.gethostname()
    except Exception:
        return ""


def _trace_id(active: str | None, request: Request | None) -> str | None:
    """The active span's trace id, else the one the request's traceparent header names."""
    return active or (request.trace_id if request is not None else None)


def build_exception_event(
    exc: BaseException,
    *,
    level: str = "error",
    message: str | None = None,
    request: Request | None = None,
    tags: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    logger: str | None = None,
    service: str | None = None,
    environment: str | None = None,
    release: str | None = None,
    include_locals: bool = False,
    fingerprint: str = "",
    now: float | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> Event:
    """The event of ``exc``: its chain (root cause first, ``exc`` last, exception group
    members included), frames, culprit and formatted traceback. Not scrubbed yet.
    ``trace_id``/``span_id``: the active span's; without them, the request's trace id."""
    with _event_budget():
        try:
            chain = _collect(exc)
        except Exception:  # never lose the exception itself over its chain
            chain = [(exc, None, None, 0)]
        # the messages first: they are what the alert says, and the locals' reprs must not
        # spend the budget of the application code they run before them
        messages = [safe_str(e, say_cut=True) for e, _, _, _ in chain]
        exceptions = tuple(
            _exception_info(e, message, relation, parent, omitted, include_locals)
            for (e, relation, parent, omitted), message in zip(chain, messages, strict=True)
        )
        raised = exceptions[-1]
        title = _title(raised.message)
        title = _cut(f"{raised.type}: {title}" if title else raised.type, MAX_TITLE)
        return Event(
            event_id=new_event_id(),
            timestamp=time.time() if now is None else now,
            level=level,
            title=title,
            message=None if message is None else safe_str(message, say_cut=True),
            exceptions=exceptions,
            culprit=_culprit(raised.frames),
            traceback=format_traceback(exceptions),
            request=request,
            service=service,
            environment=environment,
            release=release,
            host=_hostname(),
            pid=os.getpid(),
            logger=None if logger is None else _name(logger),
            tags=_tags(tags),
            extra=_extra(extra),
            fingerprint=fingerprint,
            trace_id=_trace_id(trace_id, request),
            span_id=span_id if trace_id else None,
        )


def build_message_event(
    text: str,
    *,
    level: str = "error",
    request: Request | None = None,
    tags: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    logger: str | None = None,
    service: str | None = None,
    environment: str | None = None,
    release: str | None = None,
    stack: Sequence[tuple[FrameType, int]] | None = None,
    culprit: str | None = None,
    fingerprint: str = "",
    now: float | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> Event:
    """The event of a message (``capture_message``, a log record without exception).
    The culprit is ``culprit``, else the innermost in-app frame of ``stack`` (the caller's
    stack, outermost first), else empty. Trace ids as for ``build_exception_event``."""
    with _event_budget():
        message = safe_str(text, say_cut=True)
        if culprit:
            culprit = _name(culprit, _MAX_PATH)
        else:
            try:
                culprit = _stack_culprit(stack) if stack else ""
            except Exception:
                culprit = ""
        return Event(
            event_id=new_event_id(),
            timestamp=time.time() if now is None else now,
            level=level,
            title=_title(message),
            message=message,
            exceptions=(),
            culprit=culprit,
            traceback="",
            request=request,
            service=service,
            environment=environment,
            release=release,
            host=_hostname(),
            pid=os.getpid(),
            logger=None if logger is None else _name(logger),
            tags=_tags(tags),
            extra=_extra(extra),
            fingerprint=fingerprint,
            trace_id=_trace_id(trace_id, request),
            span_id=span_id if trace_id else None,
        )
