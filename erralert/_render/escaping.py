"""Escaping every output for the dialect (and JSON or not) of the render in progress.

With autoescape on, Jinja passes every ``{{ … }}`` output through ``finalize`` and
``escape()``; Markup (escaped text, ``|safe`` text, macro output) is never escaped twice.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
from jinja2.runtime import Context
from markupsafe import Markup

from erralert._render.mode import current

__all__ = ["Prerendered", "as_markup", "as_text", "escaped", "finalize", "json_string"]


class Prerendered(str):
    """Text that is already markup of the dialect (the rendered body, offered to payload
    templates): escaping it again would show the escapes."""

    __slots__ = ()


def as_text(value: Any) -> str:
    """``value`` as text: nothing for None and undefined values."""
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return str(value)


def json_string(text: str) -> str:
    """``text`` as the contents of a JSON string (no quotes)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def escaped(value: Any) -> Markup:
    """``value`` escaped for the dialect of the render in progress."""
    mode = current()
    text = mode.dialect.escape(as_text(value))
    return Markup(json_string(text) if mode.json else text)


def as_markup(value: Any) -> Markup:
    """``value`` as it is if it is Markup already, else escaped."""
    return value if isinstance(value, Markup) else escaped(value)


# pass_context: Jinja would otherwise finalize constant outputs at compile time, outside
# any render, i.e. without knowing the dialect
@jinja2.pass_context
def finalize(context: Context, value: Any) -> Markup:
    """Every ``{{ … }}`` output. With autoescape on, Jinja wraps this in ``escape()``, which
    passes Markup through: so escaped text, ``|safe`` text and macro output (Markup made of
    escaped parts) are never escaped twice."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, Prerendered):
        return Markup(json_string(value) if current().json else value)
    return escaped(value)
