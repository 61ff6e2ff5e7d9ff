"""Telegram's Bot API ``sendMessage``: the chat and the text, its HTML parse mode's rules,
inline keyboards, 4096 UTF-16 units, about 20 messages a minute in a group. Its view: the
text plain or in Telegram's HTML subset, with the links and mentions Telegram finds by
itself, and the inline keyboard.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
from typing import Any

from erralert.inbox.markup.safe import chip, esc, link
from erralert.inbox.markup.tags import TagReader, html_subset
from erralert.inbox.platforms.base import Answer, Incoming, Platform, retry_header
from erralert.inbox.platforms.parts import (
    button_row,
    dict_of,
    link_opener,
    list_of,
    str_of,
    strip_tags,
)
from erralert.inbox.ratelimit import RateLimit

__all__ = ["Telegram", "telegram_html", "telegram_html_problem", "telegram_visible_text"]

# the tags of the Bot API's "HTML style" (the channel keeps its own list, on purpose)
_TELEGRAM_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_TELEGRAM_ENTITY = re.compile(r"&(#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|lt|gt|amp|quot);")


def telegram_html_problem(text: str) -> str | None:
    """Why Telegram's HTML parser refuses ``text`` ("Unsupported start tag …"), or None.
    Tags must be Telegram's, balanced and properly nested; every ``<`` starts a tag."""
    stack: list[tuple[str, int]] = []
    reader = TagReader(text, self_closing=False)
    pos = offset = 0  # the byte offset of text[pos], counted on as the reading goes
    while True:
        start = text.find("<", pos)
        if start < 0:
            break
        offset += len(text[pos:start].encode())
        tag = reader.at(start)
        if tag is None:
            return f"Unexpected end of name token at byte offset {offset}"
        closing, name = tag.closing, tag.name.lower()
        if name not in _TELEGRAM_TAGS:
            kind = "end" if closing else "start"
            return f'Unsupported {kind} tag "{name}" at byte offset {offset}'
        if not closing:
            stack.append((name, offset))
        elif not stack:
            return f"Unexpected end tag at byte offset {offset}"
        elif stack[-1][0] != name:
            return (
                f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1][0]}>", '
                f'found "</{name}>"'
            )
        else:
            stack.pop()
        offset += len(text[start : tag.end].encode())
        pos = tag.end
    if stack:
        return f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"'
    return None


def telegram_visible_text(text: str) -> str:
    """The text a reader sees: tags removed, Telegram's entities decoded."""
    return _TELEGRAM_ENTITY.sub(lambda m: html.unescape(m.group(0)), strip_tags(text))


def _telegram_error(status: int, description: str, **extra: Any) -> Answer:
    headers: tuple[tuple[str, str], ...] = ()
    if "parameters" in extra:
        headers = retry_header(float(extra["parameters"]["retry_after"]))
    return Answer.json(
        status,
        {"ok": False, "error_code": status, "description": description, **extra},
        description,
        headers,
    )


def _keyboard_problem(markup: Any) -> str | None:
    """Why Telegram refuses an inline keyboard: rows that are not arrays of buttons, a
    button with no action (the Bot API, InlineKeyboardMarkup and InlineKeyboardButton),
    a URL that is not "HTTP or tg://", or an http(s) URL whose host has no dot (refused as
    BUTTON_URL_INVALID, rubenlagus/TelegramBots#302). ``reply_markup`` may come as a
    JSON-serialised string. The words for a malformed keyboard are (unverified)."""
    if markup is None:
        return None
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            return "can't parse reply keyboard markup JSON object"
    if not isinstance(markup, dict):
        return "can't parse reply keyboard markup JSON object"
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None  # another keyboard kind: not the inbox's business
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return 'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            return 'can\'t find field "text"'
        url = button.get("url")
        if url is None:
            if not any(k in button for k in _BUTTON_ACTIONS):
                return "text buttons are unallowed in the inline keyboard"
            continue
        if not isinstance(url, str):
            return 'can\'t parse inline keyboard button: Field "url" must be of type String'
        scheme = url.partition(":")[0].lower()
        if scheme not in ("http", "https", "tg"):
            return f"inline keyboard button URL '{url}' is invalid: Unsupported URL protocol"
        host = re.match(r"https?://(?:[^/?#@]*@)?([^/?#:]*)", url, re.IGNORECASE)
        if scheme != "tg" and (host is None or "." not in host.group(1)):
            return "BUTTON_URL_INVALID"
    return None


# what an InlineKeyboardButton does besides opening a URL
_BUTTON_ACTIONS = (
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


class Telegram(Platform):
    name = "telegram"
    label = "Telegram"
    rank = 70
    paths = (r"/bot(?P<hook>[^/]+/[^/]+)/?",)  # /bot{token}/sendMessage
    example = "/bot1:token/sendMessage?chat_id=-100"
    rates = (RateLimit(20, 60.0),)  # per chat: "no more than 20 messages per minute" in a group
    _ids = itertools.count(1)

    @staticmethod
    def fields(incoming: Incoming) -> dict[str, Any]:
        """The method's parameters: the query string's, then the JSON body's."""
        found: dict[str, Any] = dict(incoming.query)
        if isinstance(incoming.payload, dict):
            found.update(incoming.payload)
        return found

    def rate_key(self, incoming: Incoming) -> str:
        token = incoming.hook.split("/")[0]
        return f"{token}/{self.fields(incoming).get('chat_id', '')}"

    def check(self, incoming: Incoming) -> Answer | None:
        method = incoming.path.rstrip("/").rsplit("/", 1)[-1]
        if incoming.path.startswith("/bot") and method != "sendMessage":
            return _telegram_error(404, "Not Found")
        found = self.fields(incoming)
        if found.get("chat_id") in (None, ""):
            return _telegram_error(400, "Bad Request: chat_id is empty")
        text = found.get("text")
        if not isinstance(text, str) or not text.strip():
            return _telegram_error(400, "Bad Request: message text is empty")
        shown = text
        if str(found.get("parse_mode", "")).upper() == "HTML":
            problem = telegram_html_problem(text)
            if problem is not None:
                return _telegram_error(400, f"Bad Request: can't parse entities: {problem}")
            shown = telegram_visible_text(text)
        if not shown.strip():
            return _telegram_error(400, "Bad Request: message text is empty")
        if len(shown.encode("utf-16-le", "surrogatepass")) // 2 > 4096:
            return _telegram_error(400, "Bad Request: message is too long")
        problem = _keyboard_problem(found.get("reply_markup"))
        if problem is not None:
            return _telegram_error(400, f"Bad Request: {problem}")
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        found = self.fields(incoming)
        chat = found.get("chat_id")
        text = str(found.get("text", ""))
        if str(found.get("parse_mode", "")).upper() == "HTML":
            text = telegram_visible_text(text)
        negative = (isinstance(chat, int) and chat < 0) or str(chat).startswith("-")
        result = {
            "message_id": next(self._ids),
            "from": {
                "id": 1,
                "is_bot": True,
                "first_name": "erralert inbox",
                "username": "erralert_inbox_bot",
            },
            "chat": {"id": chat, "type": "group" if negative else "private"},
            "date": int(incoming.received_at),
            "text": text,
        }
        markup = found.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            result["reply_markup"] = markup  # the sent Message carries its keyboard
        return Answer.json(200, {"ok": True, "result": result})

    def throttled(self, wait: float) -> Answer:
        seconds = max(1, math.ceil(wait))
        return _telegram_error(
            429, f"Too Many Requests: retry after {seconds}", parameters={"retry_after": seconds}
        )

    def title(self, payload: dict[str, Any]) -> str:
        # the text as read: tags dropped, references decoded
        return html.unescape(strip_tags(str_of(payload.get("text"))))

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)

    def markup(self, text: str) -> str:
        return telegram_html(text)


# -- the view --------------------------------------------------------------------------------


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
