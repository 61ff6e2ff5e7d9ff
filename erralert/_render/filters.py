"""The filters erralert's templates use on top of Jinja's: escaping for the dialect, code
spans and blocks, times, durations, counts and sparklines, and the Jinja filters whose
escaping or allowance erralert replaces (``|join``, ``|tojson``, ``|sum``).

The filters that depend on the render in progress (its dialect, whether it makes JSON,
its time, language and time zone) take the Jinja context: Jinja then never runs them at
compile time on a constant ("a`b"|code, 300|duration), which would bake in the escaping,
language or zone of no render at all.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from markupsafe import Markup

from erralert._core.event import Event
from erralert._core.wording import format_day, format_time
from erralert._render.allowance import size
from erralert._render.escaping import as_markup, as_text, escaped, json_string
from erralert._render.mode import current, spend

__all__ = ["FILTERS", "MAX_JSON_INDENT"]

MAX_JSON_INDENT = 16


def _safe(value: Any) -> Markup:
    """``|safe`` and ``|raw``: the template author vouches for the value."""
    return Markup(as_text(value))


@jinja2.pass_context
def _escape_filter(context: Context, value: Any) -> Markup:
    """``|e`` and ``|escape``: escaped for the dialect (Markup passes as it is)."""
    return _built(as_markup(value))


@jinja2.pass_context
def _forceescape(context: Context, value: Any) -> Markup:
    # escaping lengthens its input (one "&" becomes "&amp;"): chained, it grows at every
    # step, so each result counts against the render's allowance
    return _built(escaped(str(value) if isinstance(value, Markup) else value))


def _built(text: Markup) -> Markup:
    spend(len(text))
    return text


@jinja2.pass_context
def _code(context: Context, value: Any) -> Markup:
    """``|code``: the value as the content of a single-backtick code span the template
    writes itself (``<code>…</code>`` on HTML platforms), verbatim as far as the span
    allows."""
    mode = current()
    text = mode.dialect.code(as_text(value))
    return Markup(json_string(text) if mode.json else text)


@jinja2.pass_context
def _code_span(context: Context, value: Any) -> Markup:
    """``|code_span``: a complete inline code span, delimiters included, carrying the value
    byte for byte (escaped text where the platform cannot carry it in a span)."""
    mode = current()
    text = mode.dialect.span(as_text(value))
    return Markup(json_string(text) if mode.json else text)


@jinja2.pass_context
def _code_block(context: Context, value: Any, language: str = "") -> Markup:
    """``|code_block(language="")``: a complete code block on lines of its own carrying the
    value byte for byte; on platforms without code blocks, one code span (or escaped line)
    per line."""
    mode = current()
    # the last line's break belongs to the markup around the block, not to the code (a
    # `{% filter code_block %}` of whole lines ends in one): no blank line before the fence
    text = mode.dialect.block(as_text(value).rstrip("\n"), as_text(language))
    return Markup(json_string(text) if mode.json else text)


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
        return as_text(value)
    try:
        return format_time(seconds, current().zone)
    except (OverflowError, OSError, ValueError):
        return as_text(value)


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
        return as_text(value)
    return _format_duration(number, current().locale)


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
        return as_text(value)
    mode = current()
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
        return as_text(value)
    mode = current()
    try:
        return format_day(seconds, mode.now, mode.zone, mode.locale)
    except (OverflowError, OSError, ValueError):
        return as_text(value)


def _grouped(value: Any) -> str:
    """``|number``: a count with its thousands grouped, ``1204`` -> ``1,204``; a fraction
    keeps one decimal (``2,048.5``)."""
    number = _number(value)
    if number is None:
        return as_text(value)
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
    spend(len(as_text(d)) * max(0, len(items) - 1) + size(items))
    if isinstance(d, Markup) or any(isinstance(item, Markup) for item in items):
        return Markup(as_markup(d).join(as_markup(item) for item in items))
    return str(d).join(map(as_text, items))


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
    return Markup(text) if current().json else text


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
        spend((len(items) + 1) * (size(items) + size(start)))
    return sum(items, start)


# by the names templates use
FILTERS: dict[str, Callable[..., Any]] = {
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
