"""Building events from exceptions and messages (no I/O beyond reading source lines).

Every function here runs while the application is already failing, on whatever it threw:
exceptions whose ``__str__`` raises, dynamic classes, cyclic chains, 10 000-frame
recursion. Nothing here may raise, and the work is bounded (frames, exceptions, locals,
string lengths).
"""

from __future__ import annotations

import functools
import itertools
import linecache
import math
import os
import reprlib
import socket
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from types import FrameType, TracebackType
from typing import Any

from erralert.event import Event, ExceptionInfo, Frame, Request
from erralert.frames import code_info, walk_traceback

__all__ = [
    "build_exception_event",
    "build_message_event",
    "format_traceback",
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
_MAX_TAG_KEY = 200
_MAX_TAG_VALUE = 1000
_MAX_EXTRA_DEPTH = 8
_MAX_EXTRA_ITEMS = 1000  # per container
_MAX_EXTRA_REPR = 1000
# ~1200 digits: nobody reads more, and past 4300 digits CPython refuses to print an int
_MAX_INT_BITS = 4000

_CAUSE_MESSAGE = "The above exception was the direct cause of the following exception:"
_CONTEXT_MESSAGE = "During handling of the above exception, another exception occurred:"


# -- safe text ---------------------------------------------------------------------------------
def _clean(s: str) -> str:
    """``s`` without NUL characters and lone surrogates, which break JSON encoders, chat
    APIs and terminals; both are kept visible as backslash escapes."""
    if s.isascii():
        return s.replace("\x00", "\\x00") if "\x00" in s else s
    if "\x00" in s:
        s = s.replace("\x00", "\\x00")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s


def _cut(s: str, limit: int) -> str:
    # "..." marks the cut (and lets the scrubber see that a URL password lost its "@")
    return s if len(s) <= limit else s[: max(limit - 3, 0)] + "..."


def safe_str(obj: object, limit: int = MAX_MESSAGE, *, say_cut: bool = False) -> str:
    """``str(obj)`` that never raises (``"<exception str() failed: TypeName>"`` instead),
    without NUL characters or lone surrogates, cut to ``limit`` characters (``say_cut``:
    ending in words that say how much was cut, for the messages chat readers see)."""
    try:
        s = str(obj)
        if type(s) is not str:  # a __str__ returning a str subclass: keep plain data
            s = str.__str__(s)
    except Exception:
        return f"<exception str() failed: {type(obj).__name__}>"
    if say_cut and len(s) > limit:
        kept = limit
        for _ in range(2):  # the note's own length moves the cut: settle it
            note = f"… [truncated, {len(s) - kept} more characters]"
            kept = max(limit - len(note), 0)
        return _clean(s[:kept] + note)
    return _clean(_cut(s, limit))


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
    """A bounded ``repr(obj)`` that never raises (``"<repr() failed: TypeName>"``)."""
    try:
        s = _repr.repr(obj)
        if type(s) is not str:
            s = str.__str__(s)
    except Exception:
        return f"<repr() failed: {type(obj).__name__}>"
    return _clean(_cut(s, limit))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _title(text: str) -> str:
    return _cut(_first_line(text), MAX_TITLE)


# -- exceptions --------------------------------------------------------------------------------
def _type_names(exc: BaseException) -> tuple[str, str]:
    """(qualname, module) of the exception's class; dynamic classes may have anything."""
    cls = type(exc)
    qualname = getattr(cls, "__qualname__", None)
    module = getattr(cls, "__module__", None)
    return (
        qualname if isinstance(qualname, str) else cls.__name__,
        module if isinstance(module, str) else "",
    )


class _Node:
    """One exception while the chain is collected: how it relates to the next one in its
    segment, and the segments of its members when it is an exception group."""

    __slots__ = ("exc", "members", "relation")

    def __init__(self, exc: BaseException, relation: str | None) -> None:
        self.exc = exc
        self.relation = relation
        self.members: list[list[_Node]] = []


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
        cause = current.__cause__
        context = current.__context__
        if isinstance(cause, BaseException):
            current, relation = cause, "cause"
        elif isinstance(context, BaseException) and not current.__suppress_context__:
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


def _collect(exc: BaseException) -> list[tuple[BaseException, str | None, int | None]]:
    """The exceptions to report, root cause first and ``exc`` last: (exception, relation
    to the next one, index of the group it belongs to). Groups' members come before their
    group; at most ``MAX_EXCEPTIONS``, the chain of ``exc`` first, then members breadth
    first, so a huge group cannot crowd out the cause of the error."""
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
    result: list[tuple[BaseException, str | None, int | None]] = []
    for node in ordered:
        parent = parents.get(id(node))
        result.append((node.exc, node.relation, index[id(parent)] if parent else None))
    return result


# -- frames ------------------------------------------------------------------------------------
# Cached per filename: a relative co_filename was relative to the working directory at
# import time, so computing it again later would not be more right.
@functools.lru_cache(maxsize=4096)
def _abs_path(filename: str) -> str:
    if filename.startswith("<"):
        return filename
    try:
        return os.path.abspath(filename)
    except (OSError, ValueError):
        return filename


def _source_line(
    filename: str, lineno: int, module_globals: dict[str, Any], checked: set[str]
) -> str | None:
    if lineno <= 0:
        return None
    try:
        if filename not in checked:
            # A file edited since it was cached (a reload in development) would otherwise
            # show the wrong lines; one stat per file per event.
            checked.add(filename)
            linecache.checkcache(filename)
        line = linecache.getline(filename, lineno, module_globals)
    except Exception:  # a custom loader's get_source() may raise anything
        return None
    line = line.strip()
    return _clean(_cut(line, MAX_CONTEXT_LINE)) if line else None


def _locals(frame: FrameType) -> dict[str, str] | None:
    try:
        items = list(frame.f_locals.items())
    except Exception:
        return None
    result: dict[str, str] = {}
    for name, value in items:
        if len(result) >= MAX_LOCALS:
            break
        # __builtins__, __class__ cells and friends are noise, not the app's state
        if not isinstance(name, str) or (name.startswith("__") and name.endswith("__")):
            continue
        result[name] = safe_repr(value)
    return result


def _frame(frame: FrameType, lineno: int, include_locals: bool, checked: set[str]) -> Frame:
    code = frame.f_code
    function, in_app = code_info(code)
    filename = code.co_filename if isinstance(code.co_filename, str) else "<unknown>"
    f_globals = frame.f_globals
    module = f_globals.get("__name__")
    return Frame(
        filename=_display_path(filename),
        abs_path=_abs_path(filename),
        lineno=lineno,
        function=function,
        module=module if isinstance(module, str) else "",
        context_line=_source_line(filename, lineno, f_globals, checked),
        in_app=in_app,
        locals=_locals(frame) if include_locals and in_app else None,
    )


def _frames(
    stack: list[tuple[FrameType, int]], include_locals: bool
) -> tuple[tuple[Frame, ...], int]:
    omitted = 0
    if len(stack) > HEAD_FRAMES + TAIL_FRAMES:
        omitted = len(stack) - HEAD_FRAMES - TAIL_FRAMES
        stack = stack[:HEAD_FRAMES] + stack[-TAIL_FRAMES:]
    checked: set[str] = set()
    return tuple(_frame(f, lineno, include_locals, checked) for f, lineno in stack), omitted


def _exception_info(
    exc: BaseException, relation: str | None, parent: int | None, include_locals: bool
) -> ExceptionInfo:
    type_name, module = _type_names(exc)
    try:
        tb: TracebackType | None = exc.__traceback__
        frames, omitted = _frames(walk_traceback(tb), include_locals)
    except Exception:  # never lose the exception itself over its frames
        frames, omitted = (), 0
    return ExceptionInfo(
        type=type_name,
        module=module,
        message=safe_str(exc, say_cut=True),
        frames=frames,
        relation=relation,
        parent=parent,
        frames_omitted=omitted,
    )


# -- culprit -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _display_path(path: str) -> str:
    """``path`` relative to the working directory when under it, else without the
    site-packages prefix (``"starlette/routing.py"``), else unchanged."""
    if path.startswith("<"):
        return path
    try:
        absolute = os.path.abspath(path)
        cwd = os.path.join(os.getcwd(), "")
    except (OSError, ValueError):
        return path
    if absolute.startswith(cwd):
        return absolute[len(cwd) :]
    for marker in ("site-packages", "dist-packages"):
        cut = absolute.rfind(f"{os.sep}{marker}{os.sep}")
        if cut >= 0:
            return absolute[cut + len(marker) + 2 :]
    return path


def _culprit_of(module: str, function: str, filename: str, lineno: int) -> str:
    where = f"{module}.{function}" if module else function
    return f"{where} ({_display_path(filename)}:{lineno})"


def _culprit(frames: Sequence[Frame]) -> str:
    if not frames:
        return ""
    frame = next((f for f in reversed(frames) if f.in_app), frames[-1])
    return _culprit_of(frame.module, frame.function, frame.abs_path, frame.lineno)


def _stack_culprit(stack: Sequence[tuple[FrameType, int]]) -> str:
    for frame, lineno in reversed(stack):
        function, in_app = code_info(frame.f_code)
        if in_app:
            module = frame.f_globals.get("__name__")
            module = module if isinstance(module, str) else ""
            return _culprit_of(module, function, frame.f_code.co_filename, lineno)
    return ""


# -- traceback text ----------------------------------------------------------------------------
class _Printer:
    """Python's ``traceback.format_exception`` layout (chains, exception groups), from the
    event's data instead of live objects."""

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
        if not self.depth and "\n" not in text:  # nearly every line
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
            self.emit(f'  File "{frame.abs_path}", line {frame.lineno}, in {frame.function}')
            if frame.context_line:
                self.emit(f"    {frame.context_line}")

    def exception(self, i: int) -> None:
        exc = self.exceptions[i]
        groups = self.members.get(i)
        if not groups:
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
        for n, member in enumerate(groups):
            last = n == len(groups) - 1
            if last:
                self.need_close = True  # a nested group may close the box first
            corner = "+-" if n == 0 else "  "
            self.lines.append(
                f"{' ' * (2 * self.depth)}{corner}+---------------- {n + 1} ----------------"
            )
            self.depth += 1
            self.segment(member)
            if last and self.need_close:
                self.lines.append(f"{' ' * (2 * self.depth)}+------------------------------------")
                self.need_close = False
            self.depth -= 1
        if toplevel:
            self.depth = 0


def _exception_line(exc: ExceptionInfo) -> str:
    name = exc.type if exc.module in ("builtins", "__main__", "") else f"{exc.module}.{exc.type}"
    return f"{name}: {exc.message}" if exc.message else name


def format_traceback(exceptions: Sequence[ExceptionInfo]) -> str:
    """The text Python would print for these exceptions (as ordered in
    ``Event.exceptions``), without the trailing newline."""
    printer = _Printer(exceptions)
    for n, segment in enumerate(printer.top):
        if n:
            printer.emit("")
        printer.segment(segment)
    return "\n".join(printer.lines)


# -- tags and extra ----------------------------------------------------------------------------
def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if not tags:
        return {}
    try:
        items = list(tags.items())
    except Exception:
        return {}
    return {safe_str(k, _MAX_TAG_KEY): safe_str(v, _MAX_TAG_VALUE) for k, v in items}


def _jsonable(value: Any, depth: int, active: set[int]) -> Any:
    """``value`` as plain JSON data (exact types: subclasses may override anything), or its
    bounded repr when it is not JSON data, too deep or cyclic."""
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
            return _container(value, depth, active)
    except Exception:  # a container whose items() or iteration raises
        pass
    return safe_repr(value, _MAX_EXTRA_REPR)


def _container(
    value: Mapping[Any, Any] | list[Any] | tuple[Any, ...], depth: int, active: set[int]
) -> Any:
    if id(value) in active:
        return "[Circular]"
    active.add(id(value))
    try:
        if isinstance(value, Mapping):
            items = itertools.islice(value.items(), _MAX_EXTRA_ITEMS)
            return {
                (k if type(k) is str else safe_str(k, _MAX_TAG_KEY)): _jsonable(
                    v, depth + 1, active
                )
                for k, v in items
            }
        return [_jsonable(v, depth + 1, active) for v in itertools.islice(value, _MAX_EXTRA_ITEMS)]
    finally:
        active.discard(id(value))


def _extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        if not extra:
            return {}
    except Exception:  # a mapping whose __len__ raises
        return {}
    result = _jsonable(extra, 0, set())
    return result if isinstance(result, dict) else {"extra": result}


# -- events ------------------------------------------------------------------------------------
@functools.cache
def _hostname() -> str:
    try:
        return socket.gethostname()
    except Exception:
        return ""


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
) -> Event:
    """The event of ``exc``: its chain (root cause first, ``exc`` last, exception group
    members included), frames, culprit and formatted traceback. Not scrubbed yet."""
    try:
        chain = _collect(exc)
    except Exception:  # a class overriding __cause__ & co. with something that raises
        chain = [(exc, None, None)]
    exceptions = tuple(
        _exception_info(e, relation, parent, include_locals) for e, relation, parent in chain
    )
    raised = exceptions[-1]
    title = _title(raised.message)
    title = _cut(f"{raised.type}: {title}" if title else raised.type, MAX_TITLE)
    return Event(
        event_id=uuid.uuid4().hex,
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
        logger=logger,
        tags=_tags(tags),
        extra=_extra(extra),
        fingerprint=fingerprint,
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
) -> Event:
    """The event of a message (``capture_message``, a log record without exception).
    The culprit is ``culprit``, else the innermost in-app frame of ``stack`` (the caller's
    stack, outermost first), else empty."""
    message = safe_str(text, say_cut=True)
    if not culprit:
        try:
            culprit = _stack_culprit(stack) if stack else ""
        except Exception:
            culprit = ""
    return Event(
        event_id=uuid.uuid4().hex,
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
        logger=logger,
        tags=_tags(tags),
        extra=_extra(extra),
        fingerprint=fingerprint,
    )
