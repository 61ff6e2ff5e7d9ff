"""Google Chat incoming webhooks (``https://chat.googleapis.com/v1/spaces/{SPACE}/messages?key=…&token=…``).

The message is one card: the title in its header, the body as a text paragraph in the small
HTML subset Chat cards take (``<b> <i> <u> <s> <font color> <a href> <br>``), and the
configured links as a row of buttons under it. Each error
gets a thread of its own: the thread key is the error's fingerprint and erralert adds
``messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD``, so an alert and the digests
that follow it stay together; storm summaries share one thread. Mentions (``<users/…>``)
only work in the message's plain ``text``, which erralert fills with them alone.

Chat answers 200 with the stored message, or a Google JSON error
(``{"error": {"code": 400, "message": "…", "status": "INVALID_ARGUMENT"}}``).

How untrusted text is shown, the ``googlechat`` dialect (``DIALECT``):

Google Chat card text (``textParagraph`` and ``decoratedText``: a subset of HTML).

The rules, from Google Chat's "Format messages" (cards: ``<b> <i> <u> <s> <font color>
<a href> <br>``):

- The text is HTML: ``&``, ``<``, ``>`` and ``"`` are written as entities, so no tag and no
  mention (``<users/all>`` is text-message syntax, and needs a raw ``<``) can form.
- There is no code element, so a code span or block is escaped text; the channel turns
  line breaks into ``<br>``.
- Chat links bare URLs, ``www.`` names and mail addresses by itself: their ``:``, ``.`` or
  ``@`` is written as a character reference (``&#58;``), the only escape the platform
  has. Whether Chat links the text before or after decoding references is not
  documented.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import SplitResult, parse_qsl

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.pacing import Rate
from erralert._core.wording import kind_label
from erralert.channels.answers import json_object
from erralert.channels.base import Channel, Judgement, Message, judge_http_status
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.controls import strip_controls
from erralert.channels.dialects.html import html_text
from erralert.channels.dialects.tokens import may_hold_tokens
from erralert.channels.payloads import encode_within, json_body, links_within, post_json

__all__ = [
    "ALLOWED_TAGS",
    "CHANNELS",
    "DIALECT",
    "GoogleChatChannel",
    "well_formed",
]

MESSAGE_LIMIT = 32_000  # bytes of a message, text and cards together (Chat API docs)
LINKS_BUDGET = 4_000  # bytes of the link buttons' JSON; the body gets the rest
STORM_THREAD = "erralert-storm"
REPLY_OPTION = "messageReplyOption"
REPLY_IN_THREAD = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
# the HTML Chat documents for card text; anything else is shown as text
ALLOWED_TAGS = frozenset({"b", "i", "u", "s", "strike", "font", "a", "br"})
_VOID_TAGS = frozenset({"br"})

_PATH = re.compile(r"/v1/spaces/([^/]+)/messages/?")
_WORD = re.compile(r"[\w-]+")
_TOKEN = re.compile(r"[^/?#&\s]+")
_USER = re.compile(r"(?:users/)?(\d{1,30})")
# a tag (attributes quoted with ", as the html dialect and the templates write them) or a
# character reference; a "<" or "&" that starts neither is text
_MARKUP = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z-]+\s*=\s*\"[^\"<>]*\")*)\s*/?>"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});"
)


class GoogleChatChannel(Channel):
    platform = "googlechat"
    sample_url = "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=K3Y&token=T0K"
    dialect = "googlechat"
    length_unit = "bytes"
    # of the body; the card around it, the title and the <br>s take the rest of the 32000
    max_length = 28_000
    # 60 writes per minute per space, shared by every app in it (Chat API "usage limits");
    # the latest version of that page counts per second and says incoming webhooks have
    # further limits it does not give: at most one a second as well
    rates = (Rate(1, 1.0), Rate(60, 60.0))
    supported_options = Channel.supported_options | {"mention"}
    native_urls = (("chat.googleapis.com", "/v1/spaces/"),)
    short_form = "googlechat://SPACE/KEY/TOKEN"

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        if not _PATH.fullmatch(parts.path):
            return (
                "a Google Chat webhook URL is "
                "https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…"
            )
        params = dict(parse_qsl(parts.query))
        missing = [name for name in ("key", "token") if not params.get(name)]
        if missing:
            return (
                f"the Google Chat webhook URL has no {' and no '.join(missing)}: "
                "copy the whole URL, query string included"
            )
        return None

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        parts = path.strip("/").split("/")
        if not _WORD.fullmatch(host) or len(parts) != 2 or not all(map(_TOKEN.fullmatch, parts)):
            raise ValueError(
                "the Google Chat short form is googlechat://SPACE/KEY/TOKEN, from "
                "https://chat.googleapis.com/v1/spaces/SPACE/messages?key=KEY&token=TOKEN"
            )
        key, token = parts
        return f"https://chat.googleapis.com/v1/spaces/{host}/messages?key={key}&token={token}"

    def mention_markup(self, mention: str) -> str:
        if mention.lower() in ("all", "users/all"):
            return "<users/all>"
        match = _USER.fullmatch(mention)
        if match:
            return f"<users/{match[1]}>"
        raise ConfigError(
            f"webhook URL {self.masked_url}: Google Chat mention {mention!r} is not a user id "
            "(users/123456789012345678901 or the number alone) or all"
        )

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        if message.payload is not None:
            thread = message.payload.get("thread")
            return post_json(self._url(bool(thread)), json_body(message.payload))
        # many short lines grow as <br>s: hold the whole message to the limit
        encoded = encode_within(
            lambda body: self.payload(message, body),
            message.body,
            MESSAGE_LIMIT,
            margin=100,
            locale=message.locale,
        )
        return post_json(self._url(bool(_thread_key(message))), encoded)

    def _url(self, threaded: bool) -> str:
        """The webhook URL; a threaded message asks Chat to reply in its thread (or start
        it), unless the URL already says how to reply."""
        if not threaded or f"{REPLY_OPTION}=" in self.url:
            return self.url
        return f"{self.url}{'&' if '?' in self.url else '?'}{REPLY_OPTION}={REPLY_IN_THREAD}"

    def payload(self, message: Message, body: str | None = None) -> dict[str, Any]:
        """The JSON body for a rendered message (without a custom payload template)."""
        title = message.title or message.kind
        text = well_formed(message.body if body is None else body).replace("\n", "<br>")
        # a card needs a section with a widget: an empty body still gets a paragraph
        widgets: list[dict[str, Any]] = [{"textParagraph": {"text": text or "—"}}]
        buttons = _buttons(message.links)
        if buttons:
            widgets.append({"buttonList": {"buttons": buttons}})
        card: dict[str, Any] = {
            # the header shows text as it is: the plain title needs no escaping
            "header": {
                "title": title,
                "subtitle": kind_label(message.kind, message.level, message.locale),
            },
            "sections": [{"widgets": widgets}],
        }
        payload: dict[str, Any] = {}
        mentions = self.mention_markups(message.mentions)
        if mentions:
            # the only place a mention notifies anyone
            payload["text"] = " ".join(mentions)
        payload["fallbackText"] = title  # what notifications show for a card
        payload["cardsV2"] = [{"cardId": f"erralert-{message.kind}", "card": card}]
        key = _thread_key(message)
        if key:
            payload["thread"] = {"threadKey": key}
        return payload

    def judge(self, response: httpx.Response) -> Judgement:
        # Google's JSON error in its own words (None: a proxy answered); Google promises no
        # Retry-After, so the outbox's backoff decides unless one came
        return judge_http_status(response, _error(response))


def _buttons(links: tuple[Link, ...]) -> list[dict[str, Any]]:
    """A button per link that opens it (Chat API, Cards v2: ``buttonList``, ``Button``
    with ``onClick.openLink.url``); a button's text is plain text, shown as written."""
    shown = links_within(links, LINKS_BUDGET, lambda link: len(json_body(_button(link))))
    return [_button(link) for link in shown]


def _button(link: Link) -> dict[str, Any]:
    return {"text": link.name, "onClick": {"openLink": {"url": link.url}}}


def well_formed(text: str) -> str:
    """``text`` as HTML Chat renders as meant: allowed tags balanced (a tag left open by a
    cut is closed, a stray closing tag dropped), any other tag and any ``<`` or ``&`` that
    starts no tag or character reference shown as text."""
    out: list[str] = []
    open_tags: list[str] = []
    pos = 0
    for match in _MARKUP.finditer(text):
        out.append(_as_text(text[pos : match.start()]))
        pos = match.end()
        token, name = match.group(), (match.group(2) or "").lower()
        if not name:  # a character reference
            out.append(token)
        elif name not in ALLOWED_TAGS:
            out.append(_as_text(token))
        elif name in _VOID_TAGS:
            out.append(f"<{name}>")
        elif not match.group(1):
            open_tags.append(name)
            out.append(token)
        elif name in open_tags:
            while open_tags:  # close what was opened inside it, then the tag itself
                inner = open_tags.pop()
                out.append(f"</{inner}>")
                if inner == name:
                    break
        # else: a closing tag with nothing open to close: dropped
    out.append(_as_text(text[pos:]))
    out.extend(f"</{name}>" for name in reversed(open_tags))
    return "".join(out)


def _as_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _thread_key(message: Message) -> str:
    return STORM_THREAD if message.kind == "storm" else message.fingerprint


def _error(response: httpx.Response) -> str | None:
    """``"INVALID_ARGUMENT: Invalid JSON payload received…"`` from a Google JSON error."""
    answer = json_object(response)
    error = answer.get("error") if answer is not None else None
    if not isinstance(error, dict):
        return None
    words = ": ".join(str(part) for part in (error.get("status"), error.get("message")) if part)
    return words[:500] or json.dumps(error)[:500]


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (GoogleChatChannel,)


# -- the googlechat dialect: untrusted text in the platform's markup ----------

CODE_SPANS = False
CODE_BLOCKS = False

_LINK_CHAR = re.compile(
    r"(?<=[A-Za-z0-9+.-]):(?=//)|(?<![\w.-])([wW]{3})\.(?=\w)|(?<=[\w.+-])@(?=[A-Za-z0-9-]+\.)"
)


def _reference(match: re.Match[str]) -> str:
    text = match.group()
    return f"{match.group(1)}&#46;" if match.group(1) else f"&#{ord(text)};"


def escape(text: str) -> str:
    text = html_text(strip_controls(text))
    return _LINK_CHAR.sub(_reference, text) if may_hold_tokens(text) else text


def code(text: str) -> str:
    return escape(text)


def span(text: str) -> str:
    return escape(text)


def block(text: str, language: str = "") -> str:
    return escape(text)


DIALECT = Dialect.of(
    "googlechat",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
