"""Telegram's view: the text plain or in Telegram's HTML subset, with the links and
mentions Telegram finds by itself, and the inline keyboard.
"""

from __future__ import annotations

import json
import re
from typing import Any

from erralert.inbox.markup.safe import chip, esc, link
from erralert.inbox.markup.tags import html_subset
from erralert.inbox.views.parts import button_row, dict_of, link_opener, list_of, str_of

__all__ = ["render", "telegram_html"]


def _json_field(value: Any) -> Any:
    """A field the Bot API takes as a JSON object or as its JSON-serialised string
    (``reply_markup``)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _telegram_link(attrs: dict[str, str]) -> tuple[str, str]:
    href = attrs.get("href", "")
    if href.startswith("tg://user?id="):
        return '<span class="mention">@', "span"
    return link_opener(attrs)


def _spoiler(attrs: dict[str, str]) -> tuple[str, str]:
    return '<span class="spoiler">', "span"


_TELEGRAM_HTML: dict[str, tuple[str, Any]] = {
    "b": ("b", None),
    "strong": ("b", None),
    "i": ("i", None),
    "em": ("i", None),
    "u": ("u", None),
    "ins": ("u", None),
    "s": ("s", None),
    "strike": ("s", None),
    "del": ("s", None),
    "code": ("code", None),
    "pre": ("pre", None),
    "blockquote": ("blockquote", None),
    "a": ("a", _telegram_link),
    "tg-spoiler": ("span", _spoiler),
    "span": ("span", _spoiler),
    "tg-emoji": ("span", lambda attrs: ("<span>", "span")),
}


# what Telegram finds in text by itself, outside <code> and <pre>: links and @mentions
_TELEGRAM_FOUND = re.compile(
    r"(?P<url>(?<![\w.-])(?:https?://|(?P<www>www\.))[^\s<>]*[^\s<>.,:;\"')\]!?])"
    r"|(?<![\w@.+-])@(?P<who>[A-Za-z0-9_]{1,32})"
)


def _telegram_plain(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _TELEGRAM_FOUND.finditer(text):
        out.append(esc(text[pos : match.start()]))
        if match["who"] is not None:
            out.append(chip(f"@{match['who']}"))
        else:
            url = match["url"]
            out.append(link(f"http://{url}" if match["www"] else url, esc(url)))
        pos = match.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def telegram_html(text: str) -> str:
    """``text`` in Telegram's HTML parse mode, as the chat shows it."""
    return html_subset(text, _TELEGRAM_HTML, plain=_telegram_plain)


def render(payload: dict[str, Any]) -> str:
    text = str_of(payload.get("text"))
    if str(payload.get("parse_mode", "")).upper() == "HTML":
        body = telegram_html(text)
    else:
        body = _telegram_plain(text)
    keyboard = "".join(
        button_row([(str_of(dict_of(b).get("text")), dict_of(b).get("url")) for b in list_of(row)])
        for row in list_of(dict_of(_json_field(payload.get("reply_markup"))).get("inline_keyboard"))
    )
    return f'<div class="tg-text">{body}</div>{keyboard}'
