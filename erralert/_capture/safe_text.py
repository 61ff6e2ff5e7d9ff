"""Text of the application's objects that never raises nor runs for long: ``str()`` and a
bounded ``repr()`` under the time budget (see ``budget``), cut and cleaned for an event."""

from __future__ import annotations

import itertools
import reprlib
from collections import deque
from collections.abc import Iterable
from typing import Any

from erralert._capture.budget import OverBudget, run_budgeted
from erralert._core.event import clean_text

__all__ = [
    "MAX_LOCAL_REPR",
    "MAX_MESSAGE",
    "MAX_NAME",
    "clean_name",
    "cut",
    "safe_repr",
    "safe_str",
]

MAX_MESSAGE = 10_000
MAX_LOCAL_REPR = 200
MAX_NAME = 200  # class, module, function and local names
_MAX_REPR_INT_BITS = 14_000  # ~4200 digits: what Python itself prints by default

# values of these builtin types are repr()'d directly: no application code runs
_PLAIN_TYPES = frozenset(
    id(t) for t in (type(None), bool, int, float, complex, str, bytes, bytearray, range)
)
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


_TYPE_NAME = type.__dict__["__name__"]


def _class_name(obj: object) -> str:
    """``type(obj).__name__``, read so that a metaclass property cannot raise."""
    try:
        name = _TYPE_NAME.__get__(type(obj))
    except Exception:
        name = None
    return clean_name(name) or "?"


def cut(s: str, limit: int) -> str:
    # "..." marks the cut (and lets the scrubber see that a URL password lost its "@")
    return s if len(s) <= limit else s[: max(limit - 3, 0)] + "..."


def clean_name(s: object, limit: int = MAX_NAME) -> str:
    """A name for an event (class, module, function, file): plain, clean, at most
    ``limit`` characters (also when its escapes made it longer)."""
    if not isinstance(s, str):
        return ""
    return cut(clean_text(str.__str__(s)[: limit + 1]), limit)


def safe_str(obj: object, limit: int = MAX_MESSAGE, *, say_cut: bool = False) -> str:
    """``str(obj)`` that never raises (``"<exception str() failed: TypeName>"`` instead),
    nor runs for long (``"<str() timed out: TypeName>"``), without NUL characters or lone
    surrogates, cut to ``limit`` characters (``say_cut``: ending in words that say how much
    was cut, for the messages chat readers see)."""
    try:
        s = str(obj) if _str_runs_no_app_code(obj) else run_budgeted(str, obj)
        if type(s) is not str:  # a __str__ returning a str subclass: keep plain data
            s = str.__str__(s)
    except KeyboardInterrupt:
        raise
    except OverBudget:
        return f"<str() timed out: {_class_name(obj)}>"
    except BaseException:  # SystemExit, GeneratorExit from a __str__ are its failure too
        return f"<exception str() failed: {_class_name(obj)}>"
    if say_cut and len(s) > limit:
        kept = limit
        for _ in range(2):  # the note's own length moves the cut: settle it
            note = f"… [truncated, {len(s) - kept} more characters]"
            kept = max(limit - len(note), 0)
        return clean_text(s[:kept] + note)
    return clean_text(cut(s, limit))


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
            s = run_budgeted(_repr.repr, obj)
        else:  # the budget's tracer costs per Python call: no reprlib frames under it
            s = run_budgeted(_instance_repr, obj)
        if type(s) is not str:
            s = str.__str__(s)
    except KeyboardInterrupt:
        raise
    except OverBudget:
        return f"<repr() timed out: {_class_name(obj)}>"
    except BaseException:
        return f"<repr() failed: {_class_name(obj)}>"
    return clean_text(cut(s, limit))


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
