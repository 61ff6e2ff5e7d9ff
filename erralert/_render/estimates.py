"""What a method, an operator or one of Jinja's own filters will build, estimated before it
runs and counted against the render's allowance (``erralert._render.allowance``): the
sandbox wraps with these the str and bytes methods, ``%`` and ``format``, and the filters
that can build far more than their input.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.utils import _PassArg

from erralert._render.allowance import size
from erralert._render.escaping import as_text
from erralert._render.mode import spend, step

__all__ = [
    "GROWING_METHODS",
    "bounded_filters",
    "bounded_format",
    "bounded_method",
    "percent_size",
]

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


def percent_size(template: str, args: Any) -> int:
    """At most how long ``template % args`` is: the template, each conversion's width and
    precision, and each argument as often as there are conversions."""
    conversions = _PERCENT.findall(template)
    widths = sum(_width(width) + _width(precision) for width, precision in conversions)
    values = list(args.values()) if isinstance(args, dict) else args
    values = list(values) if isinstance(values, tuple) else [values]
    largest = max(map(size, values), default=0)
    return len(template) + widths + len(conversions) * largest


def bounded_format(format_method: Callable[..., str], template: str) -> Callable[..., str]:
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
        spend(len(template) + widths + fields * max(map(size, values), default=0))
        return format_method(*args, **kwargs)

    return bounded


_CASE_METHODS = ("upper", "lower", "casefold", "title", "swapcase", "capitalize")
GROWING_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate"}
    | {"encode", "decode", "hex", *_CASE_METHODS}
)


def bounded_method(method: Any) -> Callable[..., Any]:
    """A str, bytes or bytearray method that can build more than its inputs, estimated
    first."""
    text: str | bytes | bytearray = method.__self__
    name: str = method.__name__

    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = [*args, *kwargs.values()]
        if name in _FACTORS:
            spend(len(text) * _FACTORS[name](values))
            return method(*args, **kwargs)
        if name == "join":
            items = list(values[0]) if values else []
            spend(len(text) * max(0, len(items) - 1) + size(items))
            return method(items)
        if name == "replace":
            spend(_replace_size(text, *values))
        elif name == "expandtabs":
            tab = "\t" if isinstance(text, str) else b"\t"
            tabsize = values[0] if values and isinstance(values[0], int) else 8
            spend(len(text) + text.count(tab) * max(0, tabsize))  # type: ignore[arg-type]
        elif name == "translate":
            table = values[0] if values else None
            longest = max(map(size, table.values()), default=1) if isinstance(table, dict) else 1
            spend(len(text) * max(1, longest))
        else:  # center, ljust, rjust, zfill: as wide as asked
            width = values[0] if values and isinstance(values[0], int) else 0
            spend(max(len(text), width))
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
        spend(estimate(value, *args, **kwargs))
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
    return max(len(as_text(value)), _int(width, 80))


def _indent_size(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
    text = as_text(value)
    indent = len(width) if isinstance(width, str) else _int(width, 4)
    return len(text) + (text.count("\n") + 1) * max(0, indent)


def _replace_filter_size(value: Any, old: Any = "", new: Any = "", count: Any = None) -> int:
    return _replace_size(as_text(value), str(old), str(new), -1 if count is None else count)


def _format_filter_size(value: Any, *args: Any, **kwargs: Any) -> int:
    return percent_size(as_text(value), kwargs or args)


def _batch_size(value: Any, linecount: Any = 1, fill_with: Any = None) -> int:
    # the last batch is filled up to linecount items
    return size(value) + _int(linecount) * (1 + size(fill_with))


def _slice_size(value: Any, slices: Any = 1, fill_with: Any = None) -> int:
    step(max(0, _int(slices)))  # the filter loops over range(slices)
    return size(value) + _int(slices) * (1 + size(fill_with))


def _wordwrap_size(value: Any, width: Any = 79, *args: Any, **kwargs: Any) -> int:
    text = as_text(value)
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    breaks = len(text) // max(1, _int(width, 79)) + text.count(" ") + text.count("\n") + 1
    return len(text) + breaks * len(as_text(wrapstring) or "\n")


def _urlize_size(value: Any, *args: Any, **kwargs: Any) -> int:
    text = as_text(value)
    extra = sum(len(as_text(v)) for v in (*args[2:4], kwargs.get("target"), kwargs.get("rel")))
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


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """``filters``, each a point where a render may be stopped for its time; those that can
    build far more than their input are estimated first."""
    return {
        name: _bounded_filter(jinja_filter, _BOUNDED_FILTERS.get(name, _nothing_built))
        for name, jinja_filter in filters.items()
    }
