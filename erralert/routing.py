"""Routing and ownership: which channels an error goes to, and whom its alert mentions.

    Alerter(
        webhooks=["slack://T000/B000/XXXX"],                  # the default route
        routes=[
            {"name": "payments",
             "match": {"exception": "app.payments.PaymentError", "environment": "prod"},
             "webhooks": ["dingtalk://TOKEN?secret=SEC"],
             "mention": ["dingtalk:13800000000"], "window": 600},
            {"match": {"environment": "staging"}, "webhooks": []},    # silenced, counted
        ],
        owners={"app/payments/**": ["dingtalk:13900000000", "slack:U0123ABCD"]},
    )

Rules are tried in order; the first that matches decides unless it says ``continue``, in
which case the next matching rules add their channels too (as Alertmanager's routes do).
An error no rule matches takes the default route (the top-level ``webhooks``). A rule with
``"webhooks": []`` silences what it matches: nothing is sent, the occurrences are counted
(``erralert check`` shows the counts).

Matchers: ``exception`` (a class name or dotted path; subclasses match), ``module`` and
``path`` (globs on the culprit frame's module and file), ``route`` (a glob on the route
template or the path), ``method``, ``environment``, ``level``, ``logger``, ``tags`` (a
dict that must be a subset of the event's tags). A list means any of; all the keys of one
``match`` must hold.

Globs: ``*`` and ``?`` stay inside one path segment (one module name), ``**`` spans any
number of them, ``[abc]`` is a class. A path glob not starting with ``/`` may match from
any directory down (``app/payments/**`` matches ``/srv/shop/app/payments/charge.py``); a
module or logger glob without wildcards means that package and everything under it.

Owners map path globs of the culprit frame to mentions written ``platform:id``; when
several globs match, the last one wins (as in a CODEOWNERS file). They mention people on
the alert of a new error only, on channels of their platform; digests never mention.

The decision is made per error (fingerprint) from its first occurrence the process sees
and kept: the fingerprint already holds the exception type and the in-app call stack, so
its culprit, module, path and route are the same for every repeat. Level, logger and the
tags the rules look at are part of the decision's key, as they may change between
occurrences. Throttling is per error *and* decision: an error that one set of rules sends
to two channels is counted once and appears once in each.
"""

from __future__ import annotations

import abc
import difflib
import hashlib
import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from erralert.channels.base import Channel
from erralert.errors import ConfigError
from erralert.event import Event
from erralert.frames import type_names

__all__ = [
    "Decision",
    "Facts",
    "Router",
    "Rule",
    "compile_glob",
    "facts_from_text",
    "plan_channels",
]

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
RULE_KEYS = ("name", "match", "webhooks", "mention", "window", "rate", "continue")
LEVELS = frozenset({"debug", "info", "warning", "error", "critical", "fatal"})
KEY_MARK = "|route:"  # throttle keys of routed errors: "<fingerprint>|route:<rule ids>"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_<>][A-Za-z0-9_<>]*)*")
_WILDCARDS = frozenset("*?[")
# per channel key, the raw mention entries routing adds (Notice.extra_mentions)
ChannelMentions = tuple[tuple[str, tuple[str, ...]], ...]
# owners=: a table of glob -> ["platform:id", ...], or an OWNERS-style file
OwnersSpec = Mapping[str, Any] | str | Path | None


# -- globs -----------------------------------------------------------------------------------------
def compile_glob(pattern: object, sep: str = "/", *, anywhere: bool = False) -> re.Pattern[str]:
    """A glob as a regular expression matched with ``fullmatch``. ``*``, ``?`` and ``[…]``
    stay within one segment (segments are separated by ``sep``); a ``**`` segment spans any
    number of segments, none included. ``anywhere``: a pattern not starting with ``sep``
    may match from any segment boundary on. Raises ``ValueError`` for a malformed glob."""
    if not isinstance(pattern, str):
        raise ValueError(f"a glob must be a string, got {type(pattern).__name__}")
    if not pattern.strip():
        raise ValueError("a glob must not be empty")
    if "***" in pattern:
        raise ValueError(f"{pattern!r}: '***' means nothing; '**' spans segments")
    s = re.escape(sep)
    parts = pattern.split(sep)
    out: list[str] = []
    count = len(parts)
    for i, part in enumerate(parts):
        if part == "**":
            if count == 1:
                out.append(".*")
            elif i == 0:
                out.append(f"(?:.*{s})?")  # the next segment follows without a separator
            else:
                out.append(f"(?:{s}.*)?")
            continue
        if i > 0 and not (i == 1 and parts[0] == "**"):
            out.append(s)
        out.append(_segment(part, s, pattern))
    body = "".join(out)
    if anywhere and not pattern.startswith(sep) and not pattern.startswith("**"):
        body = f"(?:.*{s})?" + body
    return re.compile(body, re.DOTALL)


def _segment(part: str, s: str, pattern: str) -> str:
    """One segment's wildcards (``**`` inside a segment counts as ``*``)."""
    out: list[str] = []
    i = 0
    while i < len(part):
        c = part[i]
        if c == "*":
            while i + 1 < len(part) and part[i + 1] == "*":
                i += 1
            out.append(f"[^{s}]*")
        elif c == "?":
            out.append(f"[^{s}]")
        elif c == "[":
            end = part.find("]", i + 2 if part[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                raise ValueError(f"{pattern!r}: '[' without its ']'")
            inner = part[i + 1 : end]
            negate = inner[:1] in ("!", "^")
            if negate:
                inner = inner[1:]
            if not inner:
                raise ValueError(f"{pattern!r}: an empty [] matches nothing")
            escaped = inner.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        elif c == "]":
            raise ValueError(f"{pattern!r}: ']' without its '['")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _hierarchy_glob(pattern: object) -> re.Pattern[str]:
    """A dotted-name glob (modules, loggers): without wildcards, the name and everything
    under it (``app.payments`` matches ``app.payments.charge``)."""
    if isinstance(pattern, str) and not _WILDCARDS & set(pattern):
        pattern = pattern.rstrip(".") + ".**"
    return compile_glob(pattern, ".")


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


class _Tags(Condition):
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


def _condition(key: str, value: object) -> Condition:
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
        return _Glob(key, [_hierarchy_glob(p) for p in patterns], read, " or ".join(patterns))
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
        return _Tags(wanted, text)
    raise ValueError(_unknown("matcher", key, MATCHERS))


def _slashes(path: str | None) -> str | None:
    return path.replace("\\", "/") if path else path


def _unknown(what: str, key: object, known: Sequence[str]) -> str:
    hint = difflib.get_close_matches(str(key), known, n=1)
    also = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown {what} {key!r}{also}; known: {', '.join(known)}"


# -- rules and decisions --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Rule:
    index: int  # its place in `routes`, from 0
    id: str  # stable across processes and restarts: its name, else a digest of its text
    name: str | None
    conditions: tuple[Condition, ...]
    channels: tuple[int, ...]  # indices into the alerter's channels; () silences
    mentions: tuple[tuple[str, str], ...]  # (platform, entry)
    window: float | None
    rate: str | None
    go_on: bool  # "continue"

    @property
    def label(self) -> str:
        return f'routes[{self.index}] "{self.name}"' if self.name else f"routes[{self.index}]"

    @property
    def silences(self) -> bool:
        return not self.channels

    def matches(self, facts: Facts) -> bool:
        return all(condition(facts) for condition in self.conditions)


@dataclass(frozen=True, slots=True)
class Decision:
    rules: tuple[Rule, ...]  # the rules that matched and took part; () = the default route
    channels: tuple[int, ...]  # where it goes; () = silenced
    window: float | None  # the first of the rules' windows, else the alerter's
    suffix: str  # added to the fingerprint for the throttle ("" for the default route)

    @property
    def silenced(self) -> bool:
        return not self.channels


@dataclass(frozen=True, slots=True)
class Owner:
    pattern: str
    glob: re.Pattern[str]
    mentions: tuple[tuple[str, str], ...]  # (platform, entry)


class Router:
    """The routing rules and owners of one alerter, over its channel list."""

    def __init__(
        self,
        rules: Sequence[Rule],
        owners: Sequence[Owner],
        default: tuple[int, ...],
        channels: Sequence[Channel],
    ) -> None:
        self.rules = tuple(rules)
        self.owners = tuple(owners)
        self.channels = tuple(channels)
        self.default = Decision((), _unique(default, self.channels), None, "")
        self._by_id = {rule.id: rule for rule in self.rules}
        used = {c.key for rule in self.rules for c in rule.conditions}
        # the per-occurrence facts that take part in a decision's cache key
        self.uses_level = "level" in used
        self.uses_logger = "logger" in used
        self.tag_keys = tuple(
            sorted(
                {
                    tag
                    for rule in self.rules
                    for c in rule.conditions
                    if isinstance(c, _Tags)
                    for tag in c.tags
                }
            )
        )

    @property
    def active(self) -> bool:
        """Whether routing changes anything (rules or owners configured)."""
        return bool(self.rules or self.owners)

    def decide(self, facts: Facts) -> Decision:
        matched: list[Rule] = []
        for rule in self.rules:
            if rule.matches(facts):
                matched.append(rule)
                if not rule.go_on:
                    break
        return self._decision(matched)

    def _decision(self, matched: Sequence[Rule]) -> Decision:
        if not matched:
            return self.default
        channels = _unique([i for rule in matched for i in rule.channels], self.channels)
        window = next((rule.window for rule in matched if rule.window is not None), None)
        suffix = KEY_MARK + "+".join(rule.id for rule in matched)
        return Decision(tuple(matched), channels, window, suffix)

    def for_key(self, key: str) -> tuple[str, Decision]:
        """The fingerprint and decision of a throttle key (a digest claimed from a store,
        maybe decided by another process). Rules no longer configured: the default route."""
        fingerprint, mark, ids = key.rpartition(KEY_MARK)
        if not mark:
            return key, self.default
        rules = [self._by_id.get(rule_id) for rule_id in ids.split("+")]
        if any(rule is None for rule in rules):
            return fingerprint, self.default
        decision = self._decision([rule for rule in rules if rule is not None])
        return fingerprint, decision

    def owners_of(self, path: str | None) -> Owner | None:
        """The owner entry of a culprit file: the last glob that matches it."""
        if not path or not self.owners:
            return None
        path = path.replace("\\", "/")
        found = None
        for owner in self.owners:
            if owner.glob.fullmatch(path):
                found = owner
        return found

    def mentions(
        self, decision: Decision, path: str | None
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Per channel key, the entries an alert of a new error mentions besides each
        channel's own ``?mention=``: the rules' entries for the rule's own channels of that
        platform, then the culprit's owners on every channel of their platform."""
        owner = self.owners_of(path)
        out: list[tuple[str, tuple[str, ...]]] = []
        for index in decision.channels:
            channel = self.channels[index]
            entries = [
                entry
                for rule in decision.rules
                if index in rule.channels
                for platform, entry in rule.mentions
                if platform == channel.platform
            ]
            if owner is not None:
                entries += [e for platform, e in owner.mentions if platform == channel.platform]
            if entries:
                out.append((channel.key, tuple(dict.fromkeys(entries))))
        return tuple(out)


def _unique(indices: Iterable[int], channels: Sequence[Channel]) -> tuple[int, ...]:
    """Indices in order, without a second channel posting to the same webhook."""
    seen: set[str] = set()
    out: list[int] = []
    for i in indices:
        key = channels[i].key
        if key not in seen:
            seen.add(key)
            out.append(i)
    return tuple(out)


# -- building from the configuration ----------------------------------------------------------
ParseWebhook = Callable[[str], Channel]


@dataclass
class ChannelPlan:
    """The alerter's channels: the top-level webhooks first, then each route's new ones."""

    channels: list[Channel]
    default: tuple[int, ...]
    per_rule: list[tuple[int, ...]]


def plan_channels(
    webhooks: Sequence[str | Channel],
    routes: Sequence[Mapping[str, Any]],
    parse: ParseWebhook,
) -> ChannelPlan:
    """Channels for the top-level webhooks and every route's; the same URL written twice
    is one channel (one pacing budget)."""
    channels: list[Channel] = []
    by_spec: dict[object, int] = {}

    def index_of(spec: str | Channel, where: str) -> int:
        key: object = spec if isinstance(spec, str) else id(spec)
        if key in by_spec:
            return by_spec[key]
        if isinstance(spec, Channel):
            channel = spec
        elif isinstance(spec, str):
            try:
                channel = parse(spec)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        else:
            raise ConfigError(f"{where}: expected webhook URLs or channels, got {spec!r}")
        channels.append(channel)
        by_spec[key] = len(channels) - 1
        return len(channels) - 1

    default = tuple(index_of(spec, "webhooks") for spec in webhooks)
    per_rule: list[tuple[int, ...]] = []
    for i, route in enumerate(routes):
        label = _checked_label(i, route)
        specs = route.get("webhooks", None)
        if specs is None:
            raise ConfigError(f"{label}: 'webhooks' is missing (use [] to silence what it matches)")
        if isinstance(specs, str):
            from erralert.config import split_webhooks

            specs = split_webhooks(specs)
        if not isinstance(specs, list | tuple):
            raise ConfigError(f"{label}: 'webhooks' must be a list of URLs, got {specs!r}")
        rate = route.get("rate")
        per_rule.append(
            tuple(index_of(_with_rate(spec, rate), f"{label} webhooks") for spec in specs)
        )
    return ChannelPlan(channels, default, per_rule)


def _with_rate(spec: str | Channel, rate: object) -> str | Channel:
    """A route's ``rate`` as ``?rate=`` on each of its URLs that has none of its own."""
    if rate is None or not isinstance(spec, str):
        return spec
    query = urlsplit(spec).query
    if any(part.split("=", 1)[0] == "rate" for part in query.split("&") if part):
        return spec
    return f"{spec}{'&' if query else '?'}rate={rate}"


def _label(index: int, route: Mapping[str, Any]) -> str:
    name = route.get("name") if isinstance(route, Mapping) else None
    return f'routes[{index}] "{name}"' if isinstance(name, str) and name else f"routes[{index}]"


def build_router(
    routes: Sequence[Mapping[str, Any]],
    owners: OwnersSpec,
    plan: ChannelPlan,
) -> Router:
    """The router of ``routes`` and ``owners`` over ``plan``'s channels; ``ConfigError``
    naming the rule (or owner entry) for anything wrong."""
    rules = [_rule(i, route, plan) for i, route in enumerate(routes)]
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            raise ConfigError(
                f"{rule.label}: {seen[rule.id].label} has the same name (or the same text): "
                "rules need names of their own"
            )
        seen[rule.id] = rule
    if (
        routes
        and not plan.default
        and not any(not rule.conditions and not rule.go_on for rule in rules)
    ):
        raise ConfigError(
            "routes: no top-level webhooks (the default route) and no last rule without "
            "'match': errors no rule matches would go nowhere. Add webhooks=[...] or a final "
            "rule {'webhooks': [...]} (or {'webhooks': []} to silence them on purpose)"
        )
    return Router(rules, _owners(owners, plan.channels), plan.default, plan.channels)


def _checked_label(index: int, route: object) -> str:
    """A rule's label for messages, once it is known to be a table of known keys."""
    if not isinstance(route, Mapping):
        raise ConfigError(f"routes[{index}]: expected a table (dict), got {route!r}")
    label = _label(index, route)
    unknown = [k for k in route if k not in RULE_KEYS]
    if unknown:
        raise ConfigError(f"{label}: {_unknown('key', unknown[0], RULE_KEYS)}")
    return label


def _rule(index: int, route: Mapping[str, Any], plan: ChannelPlan) -> Rule:
    label = _checked_label(index, route)
    name = route.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
        raise ConfigError(
            f"{label}: name must be letters, digits, '.', '_' or '-' (up to 64), got {name!r}"
        )
    match = route.get("match", {})
    if not isinstance(match, Mapping):
        raise ConfigError(f"{label}: 'match' must be a table of matchers, got {match!r}")
    conditions = []
    for key, value in match.items():
        try:
            conditions.append(_condition(str(key), value))
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    window = route.get("window")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int | float) or window <= 0
    ):
        raise ConfigError(f"{label}: window must be a positive number of seconds, got {window!r}")
    rate = route.get("rate")
    if rate is not None and not isinstance(rate, str):
        raise ConfigError(f"{label}: rate must be written like '20/60' (20 per 60 s), got {rate!r}")
    go_on = route.get("continue", False)
    if not isinstance(go_on, bool):
        raise ConfigError(f"{label}: continue must be true or false, got {go_on!r}")
    channels = plan.per_rule[index]
    mentions = _mentions(route.get("mention", ()), label, [plan.channels[i] for i in channels])
    rule_id = name if isinstance(name, str) else _digest(route)
    return Rule(
        index=index,
        id=rule_id,
        name=name if isinstance(name, str) else None,
        conditions=tuple(conditions),
        channels=channels,
        mentions=mentions,
        window=float(window) if window is not None else None,
        rate=rate,
        go_on=go_on,
    )


def _digest(route: Mapping[str, Any]) -> str:
    """A rule's id without a name: a digest of its text (the same in every process)."""
    text = json.dumps(route, sort_keys=True, default=repr)
    return "r" + hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def _mentions(
    value: object, where: str, channels: Sequence[Channel]
) -> tuple[tuple[str, str], ...]:
    """``platform:entry`` mentions, each checked against every channel of its platform
    among ``channels``."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: mention must be a list of 'platform:id', got {value!r}")
    out: list[tuple[str, str]] = []
    platforms = sorted({c.platform for c in channels})
    for item in value:
        if not isinstance(item, str) or ":" not in item:
            raise ConfigError(
                f"{where}: mention {item!r} must be written 'platform:id' "
                "(e.g. 'dingtalk:13800000000', 'slack:U0123ABCD')"
            )
        platform, _, entry = item.partition(":")
        platform, entry = platform.strip().lower(), entry.strip()
        targets = [c for c in channels if c.platform == platform]
        if not targets:
            has = ", ".join(platforms) if platforms else "none (it silences)"
            raise ConfigError(
                f"{where}: mention {item!r} is for {platform}, but there is no {platform} "
                f"channel here (channels: {has})"
            )
        for channel in targets:
            try:
                channel.check_mention(entry)
            except ConfigError as exc:
                raise ConfigError(f"{where}: mention {item!r}: {exc}") from None
        out.append((platform, entry))
    return tuple(out)


def _owners(
    spec: Mapping[str, Any] | str | Path | None, channels: Sequence[Channel]
) -> list[Owner]:
    if spec is None:
        return []
    if isinstance(spec, str | Path):
        pairs = _owners_file(Path(spec))
    elif isinstance(spec, Mapping):
        pairs = [(str(k), v, f"owners[{k!r}]") for k, v in spec.items()]
    else:
        raise ConfigError(
            f"owners: expected a table of glob = [mentions] or a file path, got {spec!r}"
        )
    owners = []
    for pattern, mentions, where in pairs:
        try:
            glob = compile_glob(pattern.replace("\\", "/"), "/", anywhere=True)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        owners.append(Owner(pattern, glob, _mentions(mentions, where, channels)))
    return owners


def _owners_file(path: Path) -> list[tuple[str, Any, str]]:
    """An OWNERS file: ``<glob> <platform:id> …`` per line, ``#`` comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"owners: cannot read {path}: {exc.strerror or exc}") from None
    pairs: list[tuple[str, Any, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, *mentions = line.split()
        where = f"owners {path}:{number}"
        if not mentions:
            raise ConfigError(f"{where}: {pattern!r} names nobody (write: <glob> platform:id …)")
        pairs.append((pattern, mentions, where))
    return pairs


# -- explaining ------------------------------------------------------------------------------------
_EXPLAIN_KEYS = {
    "route": "route",
    "path": "path",
    "at": "path",
    "method": "method",
    "env": "environment",
    "environment": "environment",
    "level": "level",
    "logger": "logger",
    "module": "module",
}


def facts_from_text(text: str) -> Facts:
    """The facts an ``--explain`` line describes: ``'PaymentDeclined at app/pay.py
    route=/pay env=prod tag.tenant=acme'``. An importable dotted exception brings its
    bases (subclass rules then match as they would); otherwise only its name is known."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot read {text!r}: {exc}") from None
    values: dict[str, str] = {}
    tags: dict[str, str] = {}
    exception: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word == "at" and i + 1 < len(words):
            values["path"] = words[i + 1]
            i += 2
            continue
        key, eq, value = word.partition("=")
        if eq:
            if key.startswith(("tag.", "tags.")):
                tags[key.split(".", 1)[1]] = value
            elif key in _EXPLAIN_KEYS:
                values[_EXPLAIN_KEYS[key]] = value
            else:
                known = [*sorted(_EXPLAIN_KEYS), "tag.NAME"]
                raise ValueError(_unknown("key", key, known))
        elif exception is None:
            exception = word
        else:
            raise ValueError(f"{word!r}: say what it is (e.g. route={word}, at {word})")
        i += 1
    path = values.get("path")
    if path is not None:
        path = re.sub(r":\d+$", "", path)  # "app/pay.py:42": the line does not matter
    types: tuple[tuple[str, str], ...] = ()
    klass: type | None = None
    if exception:
        klass = _import_class(exception)
        if klass is not None:
            types = tuple((m, q) for q, m in map(type_names, klass.__mro__))
        else:
            module, _, name = exception.rpartition(".")
            types = ((module or "", name),)
    return Facts(
        exception_types=types,
        exception_class=klass,
        module=values.get("module"),
        path=path,
        route=values.get("route"),
        url_path=values.get("route"),
        method=values.get("method", "").upper() or None,
        environment=values.get("environment"),
        level=values.get("level", "error").lower(),
        logger=values.get("logger"),
        tags=tags,
    )


def _import_class(dotted: str) -> type | None:
    import builtins
    import importlib

    if "." not in dotted:
        found = getattr(builtins, dotted, None)
        return found if isinstance(found, type) and issubclass(found, BaseException) else None
    module_name, _, name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        found = getattr(module, name, None)
    except Exception:  # not importable here: names only
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None
