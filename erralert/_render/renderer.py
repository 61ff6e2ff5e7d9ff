"""Rendering a notice into one channel's message with Jinja templates.

Templates are looked up by name (``slack.j2``, or ``NAME.j2`` for ``?template=NAME``) in
the user's ``template_dir`` first and in erralert's own ``templates/`` second; with a
locale other than English, each folder's ``<locale>/NAME.j2`` comes before its
``NAME.j2`` (see ``Renderer``). Every ``{{ … }}`` output is escaped for the channel's
markup dialect (``erralert.channels.dialects``): error data is untrusted, and a request path like
``/<!channel>`` must not ping anyone. ``|safe`` (alias ``|raw``) is the explicit opt-out.

Rendering never raises: a template that fails at render time (an exception, a sandbox
refusal) is replaced by a built-in template whose body starts with the reason, so the
alert still goes out and the team learns the template is broken.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import re
import string
import threading
import time
import types
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, tzinfo
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
import jinja2.bccache
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.compiler import Frame as CompilerFrame
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from markupsafe import Markup

from erralert._core.config import tag_names
from erralert._core.errors import ConfigError
from erralert._core.event import Event, ExceptionInfo, Frame, Request
from erralert._core.links import Link, LinkTemplate, links_for
from erralert._core.notice import Notice, Occurrences, Storm, StormGroup, StormLine, document
from erralert._core.safelog import safe_logger
from erralert._core.truncate import truncate
from erralert._core.wording import format_day, format_time
from erralert._render.stack import StackLine, display_stack
from erralert.channels import DIALECTS, Dialect
from erralert.channels.base import Channel, LengthUnit, Message

__all__ = [
    "LOCALES",
    "ChannelInfo",
    "Renderer",
    "default_template_dir",
    "load_timezone",
    "mentions_for",
    "normalise_locale",
]

logger = safe_logger()

TITLE_LIMIT = 250  # characters of a title, after whitespace is collapsed
MAX_RANGE = 10_000  # items of one range() in a template
MAX_SEQUENCE = 100_000  # items (characters) of a sequence made by `*` in a template
MAX_DIGITS = 10_000  # decimal digits of an integer made by `**` in a template
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
# rest of the machine does, and a clock no test's frozen time can stop or jump.
MAX_RENDER_SECONDS = 0.5
_CLOCK_EVERY = 32  # checkpoints between two readings of the clock (a reading is a syscall)
MAX_JSON_INDENT = 16
_NOTE_LIMIT = 300  # characters of the exception message quoted in a failure note
_LOGGED_LIMIT = 256  # distinct template failures remembered to log each once

LOCALES: tuple[str, ...] = ("en", "zh")
"""The languages erralert's templates come in; ``templates/<locale>/`` for all but English."""

# what people write for Simplified Chinese, folded to lower case with "_" as "-"
_LOCALE_ALIASES = {"en": "en", "zh": "zh", "zh-cn": "zh", "zh-hans": "zh"}


def normalise_locale(value: str) -> str:
    """One of ``LOCALES`` for what a user wrote: ``"zh-CN"``, ``"zh_CN"`` and ``"zh-Hans"``
    are ``"zh"`` (case does not matter); anything else is a ``ConfigError``.

    >>> normalise_locale("zh_CN")
    'zh'
    """
    if isinstance(value, str):
        found = _LOCALE_ALIASES.get(value.strip().casefold().replace("_", "-"))
        if found is not None:
            return found
    raise ConfigError(
        f"locale {value!r} is not supported: use one of {', '.join(map(repr, LOCALES))} "
        "(zh-CN, zh_CN and zh-Hans mean 'zh')"
    )


def load_timezone(value: str | tzinfo) -> tzinfo:
    """The time zone ``|datetime`` shows times in: an IANA name (``"Asia/Shanghai"``) or a
    ``tzinfo``. ``"UTC"`` needs no time zone database; an unknown name is a ``ConfigError``
    that says when the database itself is missing (``pip install tzdata``)."""
    if isinstance(value, tzinfo):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"timezone must be a time zone name, got {type(value).__name__}")
    name = value.strip()
    if name.upper() == "UTC":
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: absolute or ".." keys, or a file that is no zone; OSError: a folder
        pass
    known = zoneinfo.available_timezones()
    if not known:
        raise ConfigError(
            f"timezone {value!r}: this machine has no time zone database "
            "(install the tzdata package: pip install tzdata), or use 'UTC'"
        )
    hint = next((zone for zone in sorted(known) if zone.casefold() == name.casefold()), None)
    advice = f"did you mean {hint!r}?" if hint else "use an IANA name such as 'Asia/Shanghai'"
    raise ConfigError(f"timezone {value!r} is not a known time zone: {advice}")


def _zone_name(zone: tzinfo) -> str:
    """``Asia/Shanghai`` for a ZoneInfo, ``UTC`` for UTC, else the zone's own name."""
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else str(zone)


def default_template_dir() -> Path:
    """erralert's own templates: ``erralert/templates`` in an installed wheel (pyproject
    force-includes them there), the repository's top-level ``templates/`` in a checkout."""
    # not resolve()d: a symlinked install finds the templates next to the link
    package = Path(__file__).parent.parent  # the directory of erralert/__init__.py
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What a template sees of the channel it renders for (``channel`` in the context)."""

    platform: str
    name: str
    max_length: int
    length_unit: LengthUnit
    dialect: str

    @property
    def code_spans(self) -> bool:
        """Whether the platform shows inline code spans (``|code_span`` makes one)."""
        dialect = DIALECTS.get(self.dialect)
        return dialect is not None and dialect.has_code_spans

    @property
    def code_blocks(self) -> bool:
        """Whether the platform shows code blocks (``|code_block`` makes one); elsewhere
        ``|code_block`` writes each line as a code span or as escaped text."""
        dialect = DIALECTS.get(self.dialect)
        return dialect is not None and dialect.has_code_blocks


# -- the escaping mode of the render in progress -------------------------------------------


class _Budget:
    """What is left of one render's allowance (``MAX_STEPS``, ``MAX_BUILT``,
    ``MAX_RENDER_SECONDS``)."""

    __slots__ = ("built", "checkpoints", "deadline", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.built = MAX_BUILT
        self.deadline = time.thread_time() + MAX_RENDER_SECONDS
        self.checkpoints = 0

    def check_time(self) -> None:
        """Refuse to go on past the render's time; the clock is read at every
        ``_CLOCK_EVERY``-th call."""
        self.checkpoints += 1
        if self.checkpoints % _CLOCK_EVERY == 0 and time.thread_time() > self.deadline:
            raise SecurityError(f"a render may take at most {MAX_RENDER_SECONDS} s")


@dataclasses.dataclass(frozen=True, slots=True)
class _Mode:
    dialect: Dialect
    json: bool = False  # inside a payload template: outputs are JSON string contents too
    now: float = 0.0
    locale: str = "en"  # the language of |duration and |ago
    zone: tzinfo = UTC  # where |datetime shows times
    # shared by the title, body and payload of one render; None outside a render
    budget: _Budget | None = None


# A context variable, not a Jinja context variable: macros of an imported template run in
# the importing render but with the context of their (cached) module, and filters have no
# context at all. A ContextVar is right in all of them, and per thread.
_MODE: contextvars.ContextVar[_Mode | None] = contextvars.ContextVar(
    "erralert_render_mode", default=None
)
_PLAIN = _Mode(DIALECTS["plain"])  # outside a render (a filter called by hand)


def _mode() -> _Mode:
    return _MODE.get() or _PLAIN


class _Prerendered(str):
    """Text that is already markup of the dialect (the rendered body, offered to payload
    templates): escaping it again would show the escapes."""

    __slots__ = ()


def _text(value: Any) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return str(value)


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _escaped(value: Any) -> Markup:
    """``value`` escaped for the dialect of the render in progress."""
    mode = _mode()
    text = mode.dialect.escape(_text(value))
    return Markup(_json_string(text) if mode.json else text)


def _markup(value: Any) -> Markup:
    return value if isinstance(value, Markup) else _escaped(value)


# pass_context: Jinja would otherwise finalize constant outputs at compile time, outside
# any render, i.e. without knowing the dialect
@jinja2.pass_context
def _finalize(context: Context, value: Any) -> Markup:
    """Every ``{{ … }}`` output. With autoescape on, Jinja wraps this in ``escape()``, which
    passes Markup through: so escaped text, ``|safe`` text and macro output (Markup made of
    escaped parts) are never escaped twice."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, _Prerendered):
        return Markup(_json_string(value) if _mode().json else value)
    return _escaped(value)


# -- filters -------------------------------------------------------------------------------
#
# The filters that depend on the render in progress (its dialect, whether it makes JSON,
# its time, language and time zone) take the Jinja context: Jinja then never runs them at
# compile time on a constant ("a`b"|code, 300|duration), which would bake in the escaping,
# language or zone of no render at all.


def _safe(value: Any) -> Markup:
    """``|safe`` and ``|raw``: the template author vouches for the value."""
    return Markup(_text(value))


@jinja2.pass_context
def _escape_filter(context: Context, value: Any) -> Markup:
    """``|e`` and ``|escape``: escaped for the dialect (Markup passes as it is)."""
    return _built(_markup(value))


@jinja2.pass_context
def _forceescape(context: Context, value: Any) -> Markup:
    # escaping lengthens its input (one "&" becomes "&amp;"): chained, it grows at every
    # step, so each result counts against the render's allowance
    return _built(_escaped(str(value) if isinstance(value, Markup) else value))


def _built(text: Markup) -> Markup:
    _spend(len(text))
    return text


@jinja2.pass_context
def _code(context: Context, value: Any) -> Markup:
    """``|code``: the value as the content of a single-backtick code span the template
    writes itself (``<code>…</code>`` on HTML platforms), verbatim as far as the span
    allows."""
    mode = _mode()
    text = mode.dialect.code(_text(value))
    return Markup(_json_string(text) if mode.json else text)


@jinja2.pass_context
def _code_span(context: Context, value: Any) -> Markup:
    """``|code_span``: a complete inline code span, delimiters included, carrying the value
    byte for byte (escaped text where the platform cannot carry it in a span)."""
    mode = _mode()
    text = mode.dialect.span(_text(value))
    return Markup(_json_string(text) if mode.json else text)


@jinja2.pass_context
def _code_block(context: Context, value: Any, language: str = "") -> Markup:
    """``|code_block(language="")``: a complete code block on lines of its own carrying the
    value byte for byte; on platforms without code blocks, one code span (or escaped line)
    per line."""
    mode = _mode()
    # the last line's break belongs to the markup around the block, not to the code (a
    # `{% filter code_block %}` of whole lines ends in one): no blank line before the fence
    text = mode.dialect.block(_text(value).rstrip("\n"), _text(language))
    return Markup(_json_string(text) if mode.json else text)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, jinja2.Undefined | bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@jinja2.pass_context
def _datetime(context: Context, value: Any) -> str:
    """``|datetime``: UNIX seconds as ``2026-11-26 18:20:01 UTC``, in the renderer's time
    zone with its offset at that moment: ``2026-11-27 02:20:01 UTC+8``."""
    seconds = _number(value)
    if seconds is None:
        return _text(value)
    try:
        return format_time(seconds, _mode().zone)
    except (OverflowError, OSError, ValueError):
        return _text(value)


# the units of |duration per locale: seconds, minutes, hours, days
_UNITS = {"en": ("s", "min", "h", "d"), "zh": ("秒", "分钟", "小时", "天")}
# |ago per locale: under a second, and a duration before the render
_AGO = {"en": ("just now", "{} ago"), "zh": ("刚刚", "{}前")}


@jinja2.pass_context
def _duration(context: Context, value: Any) -> str:
    """``|duration``: seconds as ``30 s``, ``5 min``, ``1 min 30 s``, ``1 h 5 min``,
    ``2 d 3 h`` (in Chinese ``30 秒``, ``5 分钟``, ``1 小时 5 分钟``, ``2 天 3 小时``)."""
    number = _number(value)
    if number is None:
        return _text(value)
    return _format_duration(number, _mode().locale)


def _format_duration(number: float, locale: str) -> str:
    second, minute, hour, day = _UNITS.get(locale, _UNITS["en"])
    seconds = max(0, round(number))
    if seconds < 60:
        return f"{seconds} {second}"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} {minute} {seconds} {second}" if seconds else f"{minutes} {minute}"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} {hour} {minutes} {minute}" if minutes else f"{hours} {hour}"
    days, hours = divmod(hours, 24)
    return f"{days} {day} {hours} {hour}" if hours else f"{days} {day}"


@jinja2.pass_context
def _ago(context: Context, value: Any) -> str:
    """``|ago``: UNIX seconds as the time before the render, ``5 min ago`` (``5 分钟前``)."""
    seconds = _number(value)
    if seconds is None:
        return _text(value)
    mode = _mode()
    delta = mode.now - seconds
    now, before = _AGO.get(mode.locale, _AGO["en"])
    return now if delta < 1 else before.format(_format_duration(delta, mode.locale))


@jinja2.pass_context
def _day(context: Context, value: Any) -> str:
    """``|day``: UNIX seconds as a short day in the renderer's time zone: the time on the
    day of the render (``10:02 UTC``), else ``3 Dec`` (``12月3日``), with the year when it
    is not the render's (``3 Dec 2025``)."""
    seconds = _number(value)
    if seconds is None:
        return _text(value)
    mode = _mode()
    try:
        return format_day(seconds, mode.now, mode.zone, mode.locale)
    except (OverflowError, OSError, ValueError):
        return _text(value)


def _grouped(value: Any) -> str:
    """``|number``: a count with its thousands grouped, ``1204`` -> ``1,204``; a fraction
    keeps one decimal (``2,048.5``)."""
    number = _number(value)
    if number is None:
        return _text(value)
    return f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"


_BARS = "▁▂▃▄▅▆▇█"


def _sparkline(values: Any) -> str:
    """``|sparkline``: numbers as bars, ``[0, 1, 2, 4, 9]`` -> ``▁▂▃▅█``, scaled to the
    largest."""
    if values is None or isinstance(values, jinja2.Undefined):
        return ""
    numbers = [max(0.0, n) for n in map(_number, values) if n is not None]
    top = max(numbers, default=0.0)
    if top <= 0:
        return _BARS[0] * len(numbers)
    # zero is the lowest bar; anything above zero shows at least the second
    return "".join(_BARS[min(7, math.ceil(n / top * 7))] for n in numbers)


@jinja2.pass_context
def _join(
    context: Context,
    value: Iterable[Any],
    d: Any = "",
    attribute: str | int | None = None,
) -> str:
    """``|join``, escaping for the dialect where Jinja's escapes for HTML."""
    if attribute is not None:
        value = map(make_attrgetter(context.environment, attribute), value)
    items = list(value)
    _spend(len(_text(d)) * max(0, len(items) - 1) + _size(items))
    if isinstance(d, Markup) or any(isinstance(item, Markup) for item in items):
        return Markup(_markup(d).join(_markup(item) for item in items))
    return str(d).join(map(_text, items))


def _json_default(value: Any) -> Any:
    if isinstance(value, Event):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, jinja2.Undefined):
        return None
    return str(value)


@jinja2.pass_context
def _tojson(context: Context, value: Any, indent: int | str | None = None) -> str:
    """``|tojson``: in a payload template, raw JSON (the way to put a number, a list or an
    unescaped string in the document); in a text template, text escaped like any other."""
    width = len(indent) if isinstance(indent, str) else indent
    if width is not None and not 0 <= width <= MAX_JSON_INDENT:
        # every line of the document is indented by this much per level
        raise SecurityError(f"|tojson indent of more than {MAX_JSON_INDENT} is refused")
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)
    return Markup(text) if _mode().json else text


# -- the sandbox ---------------------------------------------------------------------------


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~`` escaping for the dialect.

    Jinja joins ``a ~ b`` with markupsafe's HTML escaping when either side is Markup; in
    a markdown message that would both show ``&lt;`` and leave ``[x](http://…)`` active.
    """

    def visit_Concat(self, node: nodes.Concat, frame: CompilerFrame) -> None:
        self.write("environment.erralert_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (templates cannot reach Python internals nor change the
    event they render), with bounds on what a template can make the process compute:
    every ``{% for %}`` item and ``range()`` item is a step of the render's ``MAX_STEPS``,
    and everything that builds text or sequences (outputs, ``*``, ``+``, ``~``, ``%``,
    ``format``, padding and joining methods and filters) is estimated *before* it is built
    and counted against ``MAX_BUILT``."""

    code_generator_class = _CodeGenerator
    # intercepted operators are also never folded at compile time: `10 ** 10 ** 10` in a
    # template cannot hang erralert's start-up either
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # every loop iterates through erralert_loop, which counts its items: a loop inside
        # a loop multiplies what each range() alone is allowed
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("erralert_loop", lineno=loop.iter.lineno),
                [loop.iter],
                [],
                None,
                None,
                lineno=loop.iter.lineno,
            )
        return tree

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # Jinja returns an undefined value that only fails when used, and prints as
        # nothing: the template would silently show less. Fail now, with the reason.
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        # the data of erralert's own frozen dataclasses is what templates read all the
        # time: skip the sandbox's general checks for it (about half of a render's time);
        # methods and underscore names still take the checked way
        if type(obj) in _DATA_TYPES and not attribute.startswith("_"):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                pass
            else:
                if not callable(value):
                    return value
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja's hook for the methods it wraps when a template reads them (by attribute
        # or by item): str.format is sandboxed there, and the methods that can make a
        # string far larger than their inputs are bounded here
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            return _bounded_format(wrapped, value.__self__)
        if (
            isinstance(value, types.BuiltinMethodType)
            and isinstance(value.__self__, str | bytes | bytearray)
            and value.__name__ in _GROWING_METHODS
        ):
            return _bounded_method(value)
        return None

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            if isinstance(left, str) and isinstance(right, str):
                _spend(len(left) + len(right))
                if isinstance(left, Markup) != isinstance(right, Markup):
                    # markupsafe would HTML-escape the plain side: escape it for the dialect
                    return Markup(_markup(left) + _markup(right))
            elif isinstance(left, bytes | bytearray) and isinstance(right, bytes | bytearray):
                _spend(len(left) + len(right))
            elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
                _spend(_size(left) + _size(right))
        elif operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _spend(_percent_size(left, right))
        elif operator == "%" and isinstance(left, bytes | bytearray):
            _spend(_percent_size(bytes(left).decode("latin-1"), right))
        return super().call_binop(context, operator, left, right)

    # (Jinja's own signature: the double underscores keep a call's keyword arguments free)
    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _checkpoint()
        return super().call(__context, __obj, *args, **kwargs)

    def erralert_concat(self, values: Iterable[Any]) -> str:
        """``a ~ b ~ c``."""
        items = tuple(values)
        _spend(sum(map(_size, items)))
        if any(isinstance(item, Markup) for item in items):
            return Markup("".join(_markup(item) for item in items))
        return "".join(map(_text, items))

    def erralert_loop(self, iterable: Any) -> Any:
        """What ``{% for %}`` iterates: ``iterable``, each item a step of the render."""
        budget = _mode().budget
        return iterable if budget is None else _counted(iterable, budget)


_DATA_TYPES = frozenset(
    {
        Event,
        ExceptionInfo,
        Frame,
        Request,
        Notice,
        Occurrences,
        Storm,
        StormGroup,
        StormLine,
        ChannelInfo,
        StackLine,
        Link,
    }
)


# -- the render's allowance ------------------------------------------------------------------


def _step(count: int) -> None:
    budget = _mode().budget
    if budget is not None:
        budget.steps -= count
        if budget.steps < 0:
            raise SecurityError(f"more than {MAX_STEPS} loop iterations in one render")
        budget.check_time()


def _checkpoint() -> None:
    """A point where a render may be stopped for its time (calls, filters)."""
    budget = _mode().budget
    if budget is not None:
        budget.check_time()


def _spend(size: int) -> None:
    """Count ``size`` characters or items about to be built; refuse past the allowance
    (checked before building, so a refused string is never allocated)."""
    budget = _mode().budget
    if budget is not None:
        budget.built -= size
        if budget.built < 0:
            raise SecurityError(f"a template may build at most {MAX_BUILT} characters")
        budget.check_time()


def _counted(iterable: Any, budget: _Budget) -> Iterator[Any]:
    for item in iterable:
        budget.steps -= 1
        if budget.steps < 0:
            raise SecurityError(f"more than {MAX_STEPS} loop iterations in one render")
        budget.check_time()
        yield item


def _join_output(chunks: Iterable[str]) -> str:
    """A template's output, joined, each chunk counted as built: 10 000 outputs of one
    100 000-character string are 10 000 references while they are yielded, a gigabyte
    once joined."""
    parts: list[str] = []
    for chunk in chunks:
        _spend(len(chunk))
        parts.append(chunk)
    return "".join(parts)


def _size(value: Any, limit: int = MAX_BUILT + 1) -> int:
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


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | bytes | bytearray | list | tuple) and isinstance(times, int):
        if len(sequence) * times > MAX_SEQUENCE:
            raise SecurityError(f"a sequence of more than {MAX_SEQUENCE} items is refused")
        _spend(_size(sequence) * max(0, times))
    elif (
        isinstance(sequence, int)
        and isinstance(times, int)
        # a product has as many digits as its factors together: repeated, they double
        and (sequence.bit_length() + times.bit_length()) * math.log10(2) > MAX_DIGITS
    ):
        raise SecurityError(f"a number of more than {MAX_DIGITS} digits is refused")


def _check_power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log10(abs(base)) > MAX_DIGITS
    ):
        raise SecurityError(f"a number of more than {MAX_DIGITS} digits is refused")


def _range(*args: int) -> range:
    """``range()`` in a template: at most ``MAX_RANGE`` items, each a step of the render."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() of more than {MAX_RANGE} items is refused")
    _step(len(numbers))
    return numbers


# "%-10s", "%(name)08.3f", "%*d": a conversion of printf-style formatting, its width and
# precision
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")


def _width(text: str | None) -> int:
    """A width or precision of a format: ``*`` or a computed one (``{:{}}``) is refused,
    since only the arguments would say how much it builds."""
    if not text:
        return 0
    if not text.isdigit():
        raise SecurityError("a computed width or precision in a format is refused")
    return int(text)


def _percent_size(template: str, args: Any) -> int:
    """At most how long ``template % args`` is: the template, each conversion's width and
    precision, and each argument as often as there are conversions."""
    conversions = _PERCENT.findall(template)
    widths = sum(_width(width) + _width(precision) for width, precision in conversions)
    values = list(args.values()) if isinstance(args, dict) else args
    values = list(values) if isinstance(values, tuple) else [values]
    largest = max(map(_size, values), default=0)
    return len(template) + widths + len(conversions) * largest


def _bounded_format(format_method: Callable[..., str], template: str) -> Callable[..., str]:
    """Jinja's sandboxed ``str.format`` / ``format_map``, estimated before it runs."""

    def bounded(*args: Any, **kwargs: Any) -> str:
        fields = 0
        widths = 0
        for _, field, spec, _ in string.Formatter().parse(template):
            if field is None:
                continue
            fields += 1
            for number in re.findall(r"\{[^}]*\}|\d+", spec or ""):
                widths += _width(number)
        values = [*args, *kwargs.values()]
        if len(args) == 1 and isinstance(args[0], dict):  # format_map
            values.extend(args[0].values())
        _spend(len(template) + widths + fields * max(map(_size, values), default=0))
        return format_method(*args, **kwargs)

    return bounded


_CASE_METHODS = ("upper", "lower", "casefold", "title", "swapcase", "capitalize")
_GROWING_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate"}
    | {"encode", "decode", "hex", *_CASE_METHODS}
)


def _bounded_method(method: Any) -> Callable[..., Any]:
    """A str, bytes or bytearray method that can build more than its inputs, estimated
    first."""
    text: str | bytes | bytearray = method.__self__
    name: str = method.__name__

    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = [*args, *kwargs.values()]
        if name in _FACTORS:
            _spend(len(text) * _FACTORS[name](values))
            return method(*args, **kwargs)
        if name == "join":
            items = list(values[0]) if values else []
            _spend(len(text) * max(0, len(items) - 1) + _size(items))
            return method(items)
        if name == "replace":
            _spend(_replace_size(text, *values))
        elif name == "expandtabs":
            tab = "\t" if isinstance(text, str) else b"\t"
            size = values[0] if values and isinstance(values[0], int) else 8
            _spend(len(text) + text.count(tab) * max(0, size))  # type: ignore[arg-type]
        elif name == "translate":
            table = values[0] if values else None
            longest = max(map(_size, table.values()), default=1) if isinstance(table, dict) else 1
            _spend(len(text) * max(1, longest))
        else:  # center, ljust, rjust, zfill: as wide as asked
            width = values[0] if values and isinstance(values[0], int) else 0
            _spend(max(len(text), width))
        return method(*args, **kwargs)

    return bounded


def _encode_factor(values: list[Any]) -> int:
    # UTF-32 takes 4 bytes a character (and a BOM); escaping codecs and error handlers up
    # to 10 ("\\U0001f600"), "namereplace" a character's whole Unicode name
    codec = str(values[0]).lower() if values else "utf-8"
    errors = str(values[1]) if len(values) > 1 else "strict"
    if errors == "namereplace":
        return 100
    if "escape" in codec or errors in ("backslashreplace", "xmlcharrefreplace"):
        return 10
    return 5


# How many times its input a method's result can be at most. Case mappings can lengthen
# a character up to three ("ﬃ".upper() is "FFI"); hex writes two digits and a separator.
_FACTORS: dict[str, Callable[[list[Any]], int]] = {
    "encode": _encode_factor,
    "decode": lambda values: 1,  # never more characters than bytes
    "hex": lambda values: 3,
    **{name: (lambda values: 3) for name in _CASE_METHODS},
}


def _replace_size(text: Any, old: Any = "", new: Any = "", count: Any = -1) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)  # the method itself refuses the wrong types
    try:
        found = text.count(old) if old else len(text) + 1
    except TypeError:
        return len(text)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _bounded_filter(
    jinja_filter: Callable[..., Any], estimate: Callable[..., int]
) -> Callable[..., Any]:
    """``jinja_filter`` (one of Jinja's own), ``estimate(value, *args, **kwargs)`` counted
    before it runs. The wrapper takes the context, so that Jinja never runs it at compile
    time on constants (``'%1000000000s'|format('x')``), where no render's allowance applies;
    it hands the filter whatever Jinja would have (context, eval context or environment)."""
    passes = _PassArg.from_obj(jinja_filter)

    @jinja2.pass_context
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        _spend(estimate(value, *args, **kwargs))
        if passes is _PassArg.context:
            return jinja_filter(context, value, *args, **kwargs)
        if passes is _PassArg.eval_context:
            return jinja_filter(context.eval_ctx, value, *args, **kwargs)
        if passes is _PassArg.environment:
            return jinja_filter(context.environment, value, *args, **kwargs)
        return jinja_filter(value, *args, **kwargs)

    bounded.__name__ = jinja_filter.__name__
    bounded.__doc__ = jinja_filter.__doc__
    return bounded


def _nothing_built(value: Any, *args: Any, **kwargs: Any) -> int:
    return 0


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _center_size(value: Any, width: Any = 80) -> int:
    return max(len(_text(value)), _int(width, 80))


def _indent_size(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
    text = _text(value)
    indent = len(width) if isinstance(width, str) else _int(width, 4)
    return len(text) + (text.count("\n") + 1) * max(0, indent)


def _replace_filter_size(value: Any, old: Any = "", new: Any = "", count: Any = None) -> int:
    return _replace_size(_text(value), str(old), str(new), -1 if count is None else count)


def _format_filter_size(value: Any, *args: Any, **kwargs: Any) -> int:
    return _percent_size(_text(value), kwargs or args)


def _batch_size(value: Any, linecount: Any = 1, fill_with: Any = None) -> int:
    # the last batch is filled up to linecount items
    return _size(value) + _int(linecount) * (1 + _size(fill_with))


def _slice_size(value: Any, slices: Any = 1, fill_with: Any = None) -> int:
    _step(max(0, _int(slices)))  # the filter loops over range(slices)
    return _size(value) + _int(slices) * (1 + _size(fill_with))


def _wordwrap_size(value: Any, width: Any = 79, *args: Any, **kwargs: Any) -> int:
    text = _text(value)
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    breaks = len(text) // max(1, _int(width, 79)) + text.count(" ") + text.count("\n") + 1
    return len(text) + breaks * len(_text(wrapstring) or "\n")


def _urlize_size(value: Any, *args: Any, **kwargs: Any) -> int:
    text = _text(value)
    extra = sum(len(_text(v)) for v in (*args[2:4], kwargs.get("target"), kwargs.get("rel")))
    return 3 * len(text) + (len(text.split()) + 1) * (64 + extra)


_BOUNDED_FILTERS: dict[str, Callable[..., int]] = {
    "center": _center_size,
    "indent": _indent_size,
    "replace": _replace_filter_size,
    "format": _format_filter_size,
    "batch": _batch_size,
    "slice": _slice_size,
    "wordwrap": _wordwrap_size,
    "urlize": _urlize_size,
}


@jinja2.pass_environment
def _sum(
    environment: jinja2.Environment, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    """``|sum``: of numbers as Jinja's; of lists (``start=[]``) counted, copies included:
    each addition copies the total so far."""
    items = list(iterable)
    if attribute is not None:
        items = list(map(make_attrgetter(environment, attribute), items))
    if isinstance(start, list | tuple) or any(isinstance(i, list | tuple) for i in items):
        _spend((len(items) + 1) * (_size(items) + _size(start)))
    return sum(items, start)


# -- the built-in template -----------------------------------------------------------------

# The template of platforms without one of their own, and the fallback when a template
# fails. Plain lines (one paragraph each, so markdown keeps the breaks), escaped like any
# other template: it can be rendered for any dialect. It lives here, not in templates/,
# so no template_dir can shadow or break it.
_BUILTIN = """\
{% block title -%}
{% if kind == "storm" and storm %}Error storm: {{ storm.total }} errors, \
{{ storm.groups|length }} kinds
{%- elif kind == "digest" %}{{ event.title }} \u00d7{{ occurrences.count }} in \
{{ occurrences.window|duration }}
{%- else %}{{ event.title }}{% endif %}
{%- endblock %}
{% block body %}
{% if template_error %}
⚠ {{ template_error }}

{% endif %}
{% if kind == "storm" and storm %}
{{ storm.total }} errors of {{ storm.groups|length }} kinds \
from {{ storm.since|datetime }} to {{ storm.until|datetime }}

{% for group in storm.groups %}
- {{ group.count }}\u00d7 {{ group.title }}{% if group.culprit %} ({{ group.culprit }}){% endif %}

{% endfor %}
{% else %}
{{ event.title }}

{% if kind == "digest" %}
{{ occurrences.count }} more times in the last {{ occurrences.window|duration }} \
(first {{ occurrences.first_seen|datetime }}, last {{ occurrences.last_seen|datetime }}), \
{{ occurrences.total }} in total

{% endif %}
{% if event.culprit %}
Culprit: {{ event.culprit }}

{% endif %}
{% if event.request %}
Request: {{ event.request.line }}

{% endif %}
{% for frame in event.frames[-5:] %}
- {{ frame.filename }}:{{ frame.lineno }} in {{ frame.function }}\
{% if frame.context_line %}: {{ frame.context_line }}{% endif %}

{% endfor %}
{% endif %}
{% endblock %}
"""

# The same in Simplified Chinese. The note of a failed template says what happened in
# Chinese; the reason itself is Python's (an exception and a line), as in the logs.
_BUILTIN_ZH = """\
{% block title -%}
{% if kind == "storm" and storm %}错误风暴：共 {{ storm.total }} 个错误，\
{{ storm.groups|length }} 种
{%- elif kind == "digest" %}{{ event.title }} \u00d7{{ occurrences.count }}\
（{{ occurrences.window|duration }}内）
{%- else %}{{ event.title }}{% endif %}
{%- endblock %}
{% block body %}
{% if template_error %}
⚠ 模板出错，本条消息改用内置模板发送：{{ template_error }}

{% endif %}
{% if kind == "storm" and storm %}
共 {{ storm.total }} 个错误，{{ storm.groups|length }} 种，\
{{ storm.since|datetime }} 至 {{ storm.until|datetime }}

{% for group in storm.groups %}
- {{ group.count }}\u00d7 {{ group.title }}{% if group.culprit %}（{{ group.culprit }}）{% endif %}

{% endfor %}
{% else %}
{{ event.title }}

{% if kind == "digest" %}
最近 {{ occurrences.window|duration }}内又出现 {{ occurrences.count }} 次\
（首次 {{ occurrences.first_seen|datetime }}，最近 {{ occurrences.last_seen|datetime }}），\
累计 {{ occurrences.total }} 次

{% endif %}
{% if event.culprit %}
错误位置：{{ event.culprit }}

{% endif %}
{% if event.request %}
请求：{{ event.request.line }}

{% endif %}
{% for frame in event.frames[-5:] %}
- {{ frame.filename }}:{{ frame.lineno }} {{ frame.function }}\
{% if frame.context_line %} → {{ frame.context_line }}{% endif %}

{% endfor %}
{% endif %}
{% endblock %}
"""  # noqa: RUF001 (full-width punctuation is right in Chinese text)

_BUILTINS = {"en": _BUILTIN, "zh": _BUILTIN_ZH}


# -- the renderer --------------------------------------------------------------------------


class _CompiledCache(jinja2.BytecodeCache):
    """Compiled templates, shared by every renderer of the process: an application (or a
    test suite) making many alerters compiles each template once. Jinja keys an entry by
    template name and file, and drops it when the source's checksum changed; every
    renderer compiles with the same settings, so the code is the same for all."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            if len(self._store) >= _CACHE_LIMIT:
                self._store.clear()  # template files made on the fly (tests): start over
            self._store[bucket.key] = bucket.bytecode_to_string()


_CACHE_LIMIT = 1024
_BUILTIN_CODE: dict[str, CodeType] = {}  # per locale
_COMPILED = _CompiledCache()
# the templates each template file names in extends/include/import, with their lines
_REFERENCES: dict[tuple[str, str | None, str], list[tuple[str, int]]] = {}


def mentions_for(notice: Notice, channel: Channel) -> tuple[str, ...]:
    """The entries a message of ``notice`` mentions on ``channel``: none unless the notice
    is an alert of a new error; then the channel's own ?mention= and what routing added for
    this channel."""
    if not notice.mentions:
        return ()
    extra = next((e for key, e in notice.extra_mentions if key == channel.key), ())
    return tuple(dict.fromkeys((*channel.options.mention, *extra)))


class Renderer:
    """Renders notices into messages, one channel at a time.

    Every template is compiled when the renderer is made, so a syntax error is a
    ``ConfigError`` at start-up rather than a broken alert at 3 a.m.; ``render`` itself
    never raises. A renderer is safe to share between threads.

    ``locale`` (``"en"`` or ``"zh"``, see ``normalise_locale``) picks the language of the
    templates; ``timezone`` (an IANA name, default ``"UTC"``) the zone ``|datetime``
    shows times in. Which file renders a channel, for each of its template names in turn
    (``?template=NAME``, the platform, its family) and with ``locale="zh"``::

        template_dir/zh/NAME.j2   template_dir/NAME.j2   erralert zh/NAME.j2   erralert NAME.j2

    The first that exists wins: a file of the user's always wins over erralert's own (a
    team that wrote its own ``dingtalk.j2`` keeps it when it switches the locale), and in
    each folder the locale's file wins over the plain one. With ``"en"`` the ``zh/``
    files are never chosen by this rule, though ``?template=zh/dingtalk`` names one
    outright: Chinese for that channel alone. ``|duration`` and ``|ago`` speak the
    language of the template's folder (a ``zh/`` file renders ``5 分钟``), else the
    renderer's locale; ``"default/zh/dingtalk.j2"`` names erralert's own file, for a
    user's template that extends it.
    """

    def __init__(
        self,
        template_dir: str | os.PathLike[str] | None = None,
        *,
        locale: str = "en",
        timezone: str | tzinfo = "UTC",
        links: Iterable[LinkTemplate] = (),
        tags_to_show: Iterable[str] | str = (),
    ) -> None:
        self.locale = normalise_locale(locale)
        self._zone = load_timezone(timezone)
        self.timezone = _zone_name(self._zone)
        # the `links` option (parsed: erralert._core.links.parse_links) and the event tags every
        # alert shows, by name, in this order
        self.links = tuple(links)
        self.tags_to_show = tag_names(tags_to_show)
        self.defaults = default_template_dir()
        self.template_dir = None if template_dir is None else Path(template_dir)
        if self.template_dir is not None and not self.template_dir.is_dir():
            raise ConfigError(f"template_dir {str(self.template_dir)!r} is not a directory")
        loaders: list[jinja2.BaseLoader] = []
        user_names: list[str] = []
        if self.template_dir is not None:
            user_loader = jinja2.FileSystemLoader(self.template_dir)
            loaders.append(user_loader)
            user_names = user_loader.list_templates()
        loaders.append(jinja2.FileSystemLoader(self.defaults))
        # "default/slack.j2" always names erralert's own, so a replacement can extend it
        loaders.append(jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(self.defaults)}))
        env = _Sandbox(
            loader=jinja2.ChoiceLoader(loaders),
            bytecode_cache=_COMPILED,
            autoescape=True,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # compiled once: no stat() of the file on every render
        )
        env.filters.update(
            {
                "safe": _safe,
                "raw": _safe,
                "e": _escape_filter,
                "escape": _escape_filter,
                "forceescape": _forceescape,
                "code": _code,
                "code_span": _code_span,
                "code_block": _code_block,
                "datetime": _datetime,
                "ago": _ago,
                "duration": _duration,
                "day": _day,
                "number": _grouped,
                "sparkline": _sparkline,
                "join": _join,
                "tojson": _tojson,
                "sum": _sum,
            }
        )
        for name, jinja_filter in env.filters.items():
            # every filter is a point where a render may be stopped for its time; those that
            # can build far more than their input are estimated first
            estimate = _BOUNDED_FILTERS.get(name, _nothing_built)
            env.filters[name] = _bounded_filter(jinja_filter, estimate)
        env.globals["range"] = _range
        env.globals.pop("lipsum", None)  # lipsum(n=10**6): text nobody needs in an alert
        self._env = env
        self._templates = self._compile_all()
        # the names template_dir provides: they win over erralert's at any name
        self._user_names = frozenset(name for name in user_names if name in self._templates)
        # every locale's: a zh/ file named by ?template= falls back in Chinese under "en"
        self._builtins = {language: self._compile_builtin(language) for language in LOCALES}
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------------
    def _compile_all(self) -> dict[str, jinja2.Template]:
        names = self._env.list_templates(filter_func=lambda name: name.endswith(".j2"))
        templates: dict[str, jinja2.Template] = {}
        for name in names:
            if name.startswith("default/"):
                continue  # the same files as the defaults' own names, compiled when used
            try:
                templates[name] = self._env.get_template(name)
                self._check_references(name)
            except jinja2.TemplateSyntaxError as exc:
                where = exc.filename or exc.name or name
                raise ConfigError(f"template {where}:{exc.lineno}: {exc.message}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"template {name}: {exc}") from None
            except (SyntaxError, RecursionError) as exc:
                # valid Jinja that Python cannot compile: hundreds of nested filters or
                # parentheses (Python's parser stops at about 200 levels)
                where = self._path_of(name)
                raise ConfigError(
                    f"template {where}: too deeply nested to compile ({exc})"
                ) from None
        return templates

    def _path_of(self, name: str) -> str:
        loader = self._env.loader
        assert loader is not None
        try:
            return loader.get_source(self._env, name)[1] or name
        except jinja2.TemplateNotFound:
            return name

    def _check_references(self, name: str) -> None:
        """A template that extends, includes or imports a missing file (by a constant
        name) is a configuration error too."""
        loader = self._env.loader
        assert loader is not None
        source, filename, _ = loader.get_source(self._env, name)
        key = (name, filename, hashlib.sha1(source.encode()).hexdigest())
        references = _REFERENCES.get(key)
        if references is None:
            references = []
            tree = self._env.parse(source, name, filename)
            statements = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
            for node in tree.find_all(statements):
                target = getattr(node, "template", None)
                if not isinstance(target, nodes.Const) or not isinstance(target.value, str):
                    continue  # a name computed at render time
                if isinstance(node, nodes.Include) and node.ignore_missing:
                    continue
                references.append((target.value, node.lineno))
            if len(_REFERENCES) >= _CACHE_LIMIT:
                _REFERENCES.clear()
            _REFERENCES[key] = references
        for target_name, lineno in references:
            try:
                loader.get_source(self._env, target_name)
            except jinja2.TemplateNotFound:
                raise ConfigError(
                    f"template {filename or name}:{lineno}: template {target_name!r} not found"
                ) from None

    def _compile_builtin(self, locale: str) -> jinja2.Template:
        code = _BUILTIN_CODE.get(locale)
        if code is None:  # a race compiles it twice, harmlessly
            code = _BUILTIN_CODE[locale] = self._env.compile(
                _BUILTINS[locale], "<built-in>", "<built-in>"
            )
        return self._env.template_class.from_code(self._env, code, self._env.make_globals(None))

    def check(self, name: str) -> None:
        """Raise ``ConfigError`` unless a template ``NAME`` exists for this locale (for
        ``?template=NAME``)."""
        if self._find(name) is None:
            where = [str(self.defaults)]
            if self.template_dir is not None:
                where.insert(0, str(self.template_dir))
            files = " or ".join(self._candidates(name))
            raise ConfigError(f"template {name!r} not found: no {files} in {', '.join(where)}")

    # -- rendering -------------------------------------------------------------------------
    def render(self, notice: Notice, channel: Channel) -> Message:
        """The message for ``channel``: title (plain text, one line), body (the channel's
        markup, escaped and cut to its length), and the payload of ``NAME.payload.j2``
        when there is one. Never raises."""
        now = time.time()
        dialect = self._dialect(channel)
        template, stem = self._pick(channel)
        locale = self._locale_of(template)
        mode = _Mode(dialect, now=now, locale=locale, zone=self._zone)
        variables: dict[str, Any] = {
            "kind": notice.kind,
            "notice": notice,
            "event": notice.event,
            "stack": display_stack(notice.event),
            "occurrences": notice.occurrences,
            "storm": notice.storm,
            "channel": ChannelInfo(
                platform=channel.platform,
                name=channel.name,
                max_length=channel.max_length,
                length_unit=channel.length_unit,
                dialect=dialect.name,
            ),
            "now": now,
            "locale": locale,
            "timezone": self.timezone,
            # a storm summary stands for many errors: no one event's links or tags
            "links": () if notice.kind == "storm" else links_for(self.links, notice.event),
            "shown_tags": () if notice.kind == "storm" else self._shown_tags(notice.event),
        }
        builtin = self._builtins[locale]
        payload: dict[str, Any] | None = None
        error: str | None = None
        current = template
        try:
            title, body = self._render_text(template or builtin, variables, channel, mode)
            if template is not None:
                current = self._find(f"{stem}.payload")
                if current is not None:
                    payload = self._render_payload(current, variables, title, body, mode)
        except Exception as exc:
            error = self._describe(exc, current)
            self._log(error, channel)
            try:
                title, body = self._render_text(
                    builtin, {**variables, "template_error": error}, channel, mode
                )
            except Exception as again:  # a bug of erralert's own: still send something
                logger.warning("erralert: the built-in template failed: %r", again)
                title, body = _last_resort(notice, channel, dialect, error, locale)
            payload = None
        return Message(
            kind=notice.kind,
            title=title,
            body=body,
            level=notice.event.level,
            fingerprint=notice.event.fingerprint,
            event_id=notice.event.event_id,
            created_at=notice.created_at,
            mentions=mentions_for(notice, channel),
            links=variables["links"],
            payload=payload,
            data=document(notice) if channel.platform == "webhook" else None,
            template_error=error,
            locale=locale,
            zone=self._zone,
        )

    def _shown_tags(self, event: Event) -> tuple[tuple[str, str], ...]:
        """``(name, value)`` of each ``tags_to_show`` tag the event has, in that order."""
        tags = event.tags
        return tuple((name, tags[name]) for name in self.tags_to_show if name in tags)

    def _dialect(self, channel: Channel) -> Dialect:
        dialect = DIALECTS.get(channel.dialect)
        if dialect is None:
            # a channel class bug; plain still strips control characters
            logger.warning("erralert: %s has unknown dialect %r", channel.name, channel.dialect)
            return DIALECTS["plain"]
        return dialect

    def _pick(self, channel: Channel) -> tuple[jinja2.Template | None, str]:
        """The template for ``channel`` and the name it was found by (whose
        ``NAME.payload.j2`` completes it); None for a platform without a template: the
        built-in one renders it."""
        for name in channel.template_names:
            template = self._find(name)
            if template is not None:
                return template, name
        return None, ""

    def template_for(self, channel: Channel) -> str:
        """The name of the file that renders ``channel``'s messages, as the template folders
        know it (``dingtalk.j2``, ``zh/dingtalk.j2``), or ``built-in`` for a platform
        without one (``erralert check`` shows it)."""
        template, _ = self._pick(channel)
        return (template.name if template is not None else None) or "built-in"

    def _candidates(self, name: str) -> tuple[str, ...]:
        """The file names of template ``name``, the locale's first."""
        if self.locale == "en":
            return (f"{name}.j2",)
        return (f"{self.locale}/{name}.j2", f"{name}.j2")

    def _find(self, name: str) -> jinja2.Template | None:
        """Template ``name`` by the rule of the class docstring: template_dir's files
        first, then erralert's; in each, the locale's file first."""
        candidates = self._candidates(name)
        for file in candidates:
            if file in self._user_names:
                return self._templates[file]
        for file in candidates:
            # not one of template_dir's names, so erralert's own
            template = self._templates.get(file)
            if template is not None:
                return template
        return None

    def _locale_of(self, template: jinja2.Template | None) -> str:
        """The language a template is written in: its folder's (``zh/…``), else the
        renderer's."""
        folder = (template.name or "").partition("/")[0] if template is not None else ""
        return folder if folder in LOCALES else self.locale

    def _render_text(
        self,
        template: jinja2.Template,
        variables: dict[str, Any],
        channel: Channel,
        mode: _Mode,
    ) -> tuple[str, str]:
        """The title (plain, one line) and the body (cut to the channel's limit)."""
        budget = _Budget()
        token = _MODE.set(dataclasses.replace(mode, budget=budget))
        try:
            context = template.new_context(dict(variables))
            # the whole template runs once: `{% extends %}` registers the parent's blocks
            # in context.blocks as it goes, and top-level `{% set %}`s take effect
            whole = _join_output(template.root_render_func(context))
            blocks = context.blocks
            body = _join_output(blocks["body"][0](context)) if "body" in blocks else whole
            title = ""
            if "title" in blocks:
                # the title is plain text
                _MODE.set(dataclasses.replace(mode, dialect=DIALECTS["plain"], budget=budget))
                title = _join_output(blocks["title"][0](context))
        finally:
            _MODE.reset(token)
        title = " ".join(title.split()) or " ".join(variables["event"].title.split())
        body = _BLANK_LINES.sub("\n\n", body).strip()
        title, body = _encodable(title), _encodable(body)
        return (
            truncate(title, TITLE_LIMIT),
            truncate(body, channel.max_length, channel.length_unit, locale=mode.locale),
        )

    def _render_payload(
        self,
        template: jinja2.Template,
        variables: dict[str, Any],
        title: str,
        body: str,
        mode: _Mode,
    ) -> dict[str, Any]:
        token = _MODE.set(dataclasses.replace(mode, json=True, budget=_Budget()))
        try:
            context = template.new_context(
                {
                    **variables,
                    "title": title,  # plain text: escaped like any value
                    "body": _Prerendered(body),  # markup already: only JSON-escaped
                    "document": document(variables["notice"]),
                }
            )
            text = _join_output(template.root_render_func(context))
        finally:
            _MODE.reset(token)
        payload = json.loads(text)
        if not isinstance(payload, dict):
            raise ValueError(f"a payload must be a JSON object, not {type(payload).__name__}")
        return payload

    def _describe(self, exc: BaseException, template: jinja2.Template | None) -> str:
        """``custom template "slack.j2" failed: ZeroDivisionError: division by zero
        (line 3)``"""
        name = (template.name if template is not None else None) or "<built-in>"
        custom = (
            template is not None
            and template.filename is not None
            and self.template_dir is not None
            and Path(template.filename).resolve().is_relative_to(self.template_dir.resolve())
        )
        message = " ".join(str(exc).split())
        if len(message) > _NOTE_LIMIT:
            message = message[: _NOTE_LIMIT - 1] + "…"
        text = f"{'custom template' if custom else 'template'} {json.dumps(name)} failed: "
        text += f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        where, line = _template_line(exc)
        if line is not None:
            text += f" (line {line})" if where in (None, name) else f" ({where}, line {line})"
        return text

    def _log(self, error: str, channel: Channel) -> None:
        # one WARNING per distinct failure: a broken template would otherwise log with
        # every error the application raises
        with self._lock:
            first = error not in self._logged
            if first and len(self._logged) < _LOGGED_LIMIT:
                self._logged.add(error)
        level = logging.WARNING if first else logging.DEBUG
        logger.log(
            level, "erralert: %s (channel %s); sent with the built-in one", error, channel.name
        )


_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """``text`` with any lone surrogate as U+FFFD. Events are cleaned when they are built,
    but not what a caller builds by hand (a ``Request`` passed as it is) nor what a
    template lets through ``|safe``; a surrogate has no UTF-8 form, so every channel that
    measures its body in bytes, and the JSON it sends, would fail on it."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _template_line(exc: BaseException) -> tuple[str | None, int | None]:
    """The template and line an exception was raised at: Jinja's compiled code keeps a
    map from its own lines to the template's."""
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
        return exc.name, exc.lineno
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if isinstance(template, jinja2.Template):
            found = template.name, template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return found


def _last_resort(
    notice: Notice, channel: Channel, dialect: Dialect, error: str | None, locale: str
) -> tuple[str, str]:
    event = notice.event
    lines: Iterator[str] = (
        line for line in (f"⚠ {error}" if error else None, event.title, event.culprit) if line
    )
    body = _encodable("\n\n".join(dialect.escape(line) for line in lines))
    title = _encodable(" ".join(event.title.split()))
    body = truncate(body, channel.max_length, channel.length_unit, locale=locale)
    return truncate(title, TITLE_LIMIT), body
