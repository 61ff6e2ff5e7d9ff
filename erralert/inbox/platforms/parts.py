"""What the platforms' views and titles share: lenient readers of a payload's fields (a
field of the wrong type reads as empty), the page's pieces (a bar, the pings, a row of
buttons, a time, legacy attachment fields, a safe link opening for an HTML subset) and the
readings of a title's text (tags dropped, markdown's backslash escapes read).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from erralert.inbox.markup.safe import chip, colour, esc, link, safe_url

__all__ = [
    "bar",
    "button_row",
    "dict_of",
    "legacy_fields",
    "link_opener",
    "list_of",
    "pings",
    "str_of",
    "strip_tags",
    "unbackslash",
    "when",
]

_TAG = re.compile(r"<[^<>]*>")
_BACKSLASH = re.compile(r"\\([!-/:-@\[-`{-~])")  # markdown's escapes (Discord's, Teams')


def str_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def list_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dict_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def bar(shade: Any, inner: str) -> str:
    """A block with a coloured bar on its left (attachments, embeds)."""
    value = colour(shade) or "#d0d0d0"
    return f'<div class="bar" style="border-left-color:{value}">{inner}</div>'


def pings(who: list[str], note: str = "") -> str:
    if not who and not note:
        return ""
    chips = "".join(chip(w) for w in who)
    return f'<div class="pings">Pings: {chips}{esc(note)}</div>'


def button_row(items: list[tuple[str, Any]], *, vertical: bool = False) -> str:
    """A row of link buttons (a column when ``vertical``): each ``(label, url)`` a button,
    a link only where the URL is a safe http(s) one."""
    if not items:
        return ""
    shown = "".join(link(url, f'<span class="button">{esc(label)}</span>') for label, url in items)
    return f'<div class="buttons{" vertical" if vertical else ""}">{shown}</div>'


def when(value: Any) -> str:
    return f'<span class="ts">{esc(value)}</span>' if isinstance(value, str) and value else ""


def legacy_fields(attachment: dict[str, Any], text: Callable[[str], str]) -> str:
    cells = []
    for item in list_of(attachment.get("fields")):
        item = dict_of(item)
        wide = "" if item.get("short") else ' class="wide"'
        cells.append(
            f"<div{wide}><b>{esc(str_of(item.get('title')))}</b><br>{text(str_of(item.get('value')))}</div>"
        )
    return f'<div class="fields">{"".join(cells)}</div>' if cells else ""


def link_opener(attrs: dict[str, str]) -> tuple[str, str]:
    target = safe_url(attrs.get("href"))
    if target is None:
        return '<span class="badlink">', "span"
    return f'<a href="{esc(target)}" rel="noopener noreferrer nofollow" target="_blank">', "a"


def strip_tags(text: str) -> str:
    """``text`` without anything that looks like a tag (``<…>``)."""
    return _TAG.sub("", text)


def unbackslash(text: str) -> str:
    """``text`` with markdown's backslash escapes read (``\\*`` is ``*``)."""
    return _BACKSLASH.sub(r"\1", text)
