"""What routing rules look at (``Facts``, read from an event) and the matchers of a
rule's ``match`` table, each able to say why it holds or not (``--explain``)."""

from __future__ import annotations

import abc
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from erralert._core.event import Event
from erralert._core.frames import type_names
from erralert._routing.globs import compile_glob, hierarchy_glob

__all__ = ["LEVELS", "MATCHERS", "Check", "Condition", "Facts", "Tags", "condition", "unknown"]

MATCHERS = (
    "exception",
    "module",
    "path",
    "route",
    "method",
    "environment",
    "level",
    "logger",
    "tags",
)
LEVELS = frozenset({"debug", "info", "warning", "error", "critical", "fatal"})
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_<>][A-Za-z0-9_<>]*)*")


# -- what rules look at ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules of one decision look at, read from an event (or written by hand for
    ``erralert check --explain``)."""

    # (module, qualname) of the exception's class and of each of its bases, the class first;
    # () for a message
    exception_types: tuple[tuple[str, str], ...] = ()
    exception_class: type | None = None
    module: str | None = None  # the culprit frame's module
    path: str | None = None  # the culprit frame's file
    route: str | None = None  # the route template
    url_path: str | None = None  # the request's path
    method: str | None = None
    environment: str | None = None
    level: str = "error"
    logger: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        event: Event,
        exc: BaseException | None = None,
        site: tuple[str, str] | None = None,
    ) -> Facts:
        """The facts of ``event``; ``exc`` gives the exception's bases (the event keeps
        only its type); ``site`` is (module, file) of a message's culprit frame."""
        types: tuple[tuple[str, str], ...] = ()
        klass: type | None = None
        if exc is not None:
            klass = type(exc)
            types = tuple((module, qualname) for qualname, module in map(type_names, klass.__mro__))
        elif event.exception is not None:
            types = ((event.exception.module, event.exception.type),)
        module = path = None
        frames = event.frames
        if frames:
            frame = next((f for f in reversed(frames) if f.in_app), frames[-1])
            module, path = frame.module, frame.abs_path
        elif site is not None:
            module, path = site
        request = event.request
        return cls(
            exception_types=types,
            exception_class=klass,
            module=module or None,
            path=path or None,
            route=request.route if request is not None else None,
            url_path=request.path if request is not None else None,
            method=request.method if request is not None else None,
            environment=event.environment,
            level=event.level,
            logger=event.logger,
            tags=event.tags,
        )


@dataclass(frozen=True, slots=True)
class Check:
    """One matcher's verdict on some facts, for ``--explain``."""

    key: str
    holds: bool
    seen: str  # the value the facts have
    wanted: str  # what the rule asks for


class Condition(abc.ABC):
    """One key of a rule's ``match``."""

    def __init__(self, key: str, wanted: str) -> None:
        self.key = key
        self.wanted = wanted  # as written, for the routing table

    @abc.abstractmethod
    def __call__(self, facts: Facts) -> bool:
        """Whether ``facts`` satisfy this matcher."""

    @abc.abstractmethod
    def seen(self, facts: Facts) -> str:
        """What ``facts`` have for this matcher, in words (for ``--explain``)."""

    def check(self, facts: Facts) -> Check:
        return Check(self.key, self(facts), self.seen(facts), self.wanted)


class _Exception(Condition):
    def __init__(self, names: tuple[str, ...], classes: tuple[type, ...], wanted: str) -> None:
        super().__init__("exception", wanted)
        self.names = frozenset(names)
        self.classes = classes

    def __call__(self, facts: Facts) -> bool:
        if self.classes and facts.exception_class is not None:
            try:
                if issubclass(facts.exception_class, self.classes):
                    return True
            except TypeError:
                pass
        for module, qualname in facts.exception_types:
            if qualname in self.names or f"{module}.{qualname}" in self.names:
                return True
        return False

    def seen(self, facts: Facts) -> str:
        if not facts.exception_types:
            return "no exception (a message)"
        module, qualname = facts.exception_types[0]
        bases = [q for _, q in facts.exception_types[1:] if q not in ("object", "BaseException")]
        own = f"{module}.{qualname}" if module not in ("", "builtins") else qualname
        return own + (f" (bases: {', '.join(bases)})" if bases else "")


class _Glob(Condition):
    def __init__(
        self,
        key: str,
        patterns: Sequence[re.Pattern[str]],
        read: Callable[[Facts], Sequence[str | None]],
        wanted: str,
    ) -> None:
        super().__init__(key, wanted)
        self.patterns = tuple(patterns)
        self.read = read

    def __call__(self, facts: Facts) -> bool:
        values = [v for v in self.read(facts) if v]
        return any(p.fullmatch(v) for v in values for p in self.patterns)

    def seen(self, facts: Facts) -> str:
        values = [v for v in self.read(facts) if v]
        return " / ".join(values) if values else "unknown"


class _OneOf(Condition):
    def __init__(self, key: str, values: Iterable[str], read: Callable[[Facts], str | None]):
        kept = tuple(values)
        super().__init__(key, " or ".join(kept))
        self.values = frozenset(v.lower() for v in kept)
        self.read = read

    def __call__(self, facts: Facts) -> bool:
        value = self.read(facts)
        return value is not None and value.lower() in self.values

    def seen(self, facts: Facts) -> str:
        return self.read(facts) or "unknown"


class Tags(Condition):
    def __init__(self, wanted: Mapping[str, frozenset[str]], text: str) -> None:
        super().__init__("tags", text)
        self.tags = dict(wanted)

    def __call__(self, facts: Facts) -> bool:
        return all(facts.tags.get(k) in allowed for k, allowed in self.tags.items())

    def seen(self, facts: Facts) -> str:
        return ", ".join(f"{k}={facts.tags.get(k, '(none)')}" for k in self.tags) or "-"


def _strings(value: object, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError(f"{what}: an empty list matches nothing")
    out = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{what}: expected a non-empty string, got {item!r}")
        out.append(item.strip())
    return tuple(out)


def condition(key: str, value: object) -> Condition:
    """One matcher from its configuration; ``ValueError`` says what is wrong with it."""
    if key == "exception":
        items = value if isinstance(value, list | tuple) else [value]
        if not items:
            raise ValueError("exception: an empty list matches nothing")
        names: list[str] = []
        classes: list[type] = []
        for item in items:
            if isinstance(item, type) and issubclass(item, BaseException):
                classes.append(item)
                qualname, module = type_names(item)
                names.append(f"{module}.{qualname}" if module != "builtins" else qualname)
            elif isinstance(item, str) and _DOTTED.fullmatch(item.strip()):
                names.append(item.strip())
            else:
                raise ValueError(
                    f"exception: expected a class name, a dotted path or an exception class, "
                    f"got {item!r}"
                )
        shown = " or ".join(names)
        return _Exception(tuple(n for n in names), tuple(classes), shown)
    if key in ("module", "logger"):
        patterns = _strings(value, key)
        read: Callable[[Facts], Sequence[str | None]] = (
            (lambda f: (f.module,)) if key == "module" else (lambda f: (f.logger,))
        )
        return _Glob(key, [hierarchy_glob(p) for p in patterns], read, " or ".join(patterns))
    if key == "path":
        patterns = _strings(value, key)
        compiled = [compile_glob(p.replace("\\", "/"), "/", anywhere=True) for p in patterns]
        return _Glob(key, compiled, lambda f: (_slashes(f.path),), " or ".join(patterns))
    if key == "route":
        patterns = _strings(value, key)
        return _Glob(
            key,
            [compile_glob(p, "/") for p in patterns],
            lambda f: (f.route, f.url_path),
            " or ".join(patterns),
        )
    if key == "environment":
        patterns = _strings(value, key)
        return _Glob(
            key,
            [compile_glob(p, "\x00") for p in patterns],
            lambda f: (f.environment,),
            " or ".join(patterns),
        )
    if key == "method":
        methods = _strings(value, key)
        for m in methods:
            if not m.isalpha():
                raise ValueError(f"method: {m!r} is not an HTTP method")
        return _OneOf(key, [m.upper() for m in methods], lambda f: f.method)
    if key == "level":
        levels = _strings(value, key)
        for lv in levels:
            if lv.lower() not in LEVELS:
                raise ValueError(
                    f"level: {lv!r} is not a level (one of: {', '.join(sorted(LEVELS))})"
                )
        return _OneOf(key, [lv.lower() for lv in levels], lambda f: f.level)
    if key == "tags":
        if not isinstance(value, Mapping) or not value:
            raise ValueError("tags: expected a non-empty table of tag = value (or list of values)")
        wanted: dict[str, frozenset[str]] = {}
        for tag, allowed in value.items():
            if not isinstance(tag, str) or not tag:
                raise ValueError(f"tags: a tag name must be a string, got {tag!r}")
            values = allowed if isinstance(allowed, list | tuple) else [allowed]
            if not values or not all(isinstance(v, str | int | bool) for v in values):
                raise ValueError(f"tags: {tag} must be a string, number or list of them")
            wanted[tag] = frozenset(str(v) for v in values)
        text = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in wanted.items())
        return Tags(wanted, text)
    raise ValueError(unknown("matcher", key, MATCHERS))


def _slashes(path: str | None) -> str | None:
    return path.replace("\\", "/") if path else path


def unknown(what: str, key: object, known: Sequence[str]) -> str:
    hint = difflib.get_close_matches(str(key), known, n=1)
    also = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown {what} {key!r}{also}; known: {', '.join(known)}"
