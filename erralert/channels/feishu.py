"""Feishu custom bots (飞书自定义机器人): ``https://open.feishu.cn/open-apis/bot/v2/hook/{hook_id}``,
and Lark, Feishu's international edition: ``https://open.larksuite.com/open-apis/bot/v2/hook/…``.

Messages are interactive cards: the title in a coloured header (red alert, orange warning,
yellow digest, purple storm…), the body as the card's rich text (``markdown``) element,
which has inline code and code blocks, the message's mentions in a block of their own,
the configured links as buttons, and a grey note with the time and the event id.

A bot may be protected by a signing secret (``?secret=…`` or ``feishu://secret@hook_id``:
every body then carries ``timestamp`` and ``sign`` at its top level), by keywords
(``?keyword=…``: one must appear in every message, so erralert appends it when the text lacks
it) and by an IP allow-list. ``?mention=`` takes open_ids (``ou_…``), user_ids and ``all``:
custom bots cannot mention by e-mail, and ``all`` works only when the group owner allows it
(otherwise Feishu refuses the whole card).

Feishu answers refusals with ``{"code": …, "msg": …}`` (HTTP 200, sometimes 400): the verdict
is the code. Lark uses ``feishu.j2`` unless ``?template=`` names another.

How untrusted text is shown, the ``feishu`` dialect (``DIALECT``):

Feishu / Lark card markdown (the card's rich text element, ``{"tag": "markdown"}``).

The rules, from Feishu's rich text component documentation (富文本组件):

- Special characters are shown by their HTML character references (the documentation's
  table of escapes: ``&#42;`` for ``*``, ``&lt;`` for ``<``, ``&#35;`` for ``#`` …), so
  those are the escape, wherever a construct could actually form.
- ``<at id=all></at>``, ``<at id=…>`` and ``<at email=…>`` mention; they need a raw
  ``<``, escaped in prose. Text holding ``<at`` is never put in code (nothing says Feishu
  ignores it there).
- Bare URLs, ``www.`` names and mail addresses are shown as code spans.
- Inline code takes one backtick (one line); code blocks take ```` ```lang ````: a text
  holding a backtick is escaped prose instead of a span, and a text holding
  ```` ``` ```` becomes one code span per line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import math
import re
import time
from typing import Any, ClassVar
from urllib.parse import SplitResult

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate
from erralert._core.wording import event_label, format_time
from erralert.channels.answers import json_code, json_object
from erralert.channels.base import (
    Channel,
    Judgement,
    Message,
    Verdict,
    judge_http_status,
    parse_retry_after,
)
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import (
    CodeMarkup,
    Markdown,
    charref,
    code_functions,
    escape_markdown,
)
from erralert.channels.dialects.tokens import BARE_LINK, tokens
from erralert.channels.masking import mask_url_secrets
from erralert.channels.payloads import json_body, links_within, post_json

__all__ = [
    "BODY_LIMIT",
    "CHANNELS",
    "DIALECT",
    "FeishuChannel",
    "LarkChannel",
    "sign",
]

# "请求体的数据大小不能超过 20 KB", read as 20000 bytes: the smaller of the two readings
BODY_LIMIT = 20000
LINKS_BUDGET = 3000  # bytes of the link buttons' JSON; the text gets the rest of BODY_LIMIT
THROTTLED = 11232  # "frequency limited": the bot's 5/s or 100/min, or Feishu under load
GATEWAY_THROTTLED = 99991400  # the API gateway's "request trigger frequency limit"
INTERNAL_ERROR = 2200  # seen near the rate limit; an internal error is worth another try
# when an 11232 comes without a reset header: long enough for the 1 s window to pass and for
# load at the full or half hour (when Feishu says 11232s cluster) to ease
_THROTTLE_WAIT = 5.0
_PATH = "/open-apis/bot/v2/hook/"
# hook ids are UUIDs; anything outside URL-safe characters is a paste error
_HOOK_ID = re.compile(r"[A-Za-z0-9_.~-]+")
# open_ids (ou_…) and user_ids (tenant-defined letters and digits); nothing that could close
# the <at> tag or carry markup
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MOBILE = re.compile(r"(?:\+?86)?1\d{10}|\+\d{7,15}")
_TOKEN_PATH = re.compile(r"(/hook/)[^?#]*")

# the header colour: the kind of message first, then the severity of an alert
_KIND_TEMPLATES = {"storm": "purple", "digest": "yellow"}
_LEVEL_TEMPLATES = {
    "critical": "carmine",
    "fatal": "carmine",
    "warning": "orange",
    "info": "blue",
    "debug": "grey",
}
_ALERT_TEMPLATE = "red"  # errors and any level not listed


def sign(secret: str, timestamp: int) -> str:
    """Feishu's (and Lark's) request signature: base64 of HMAC-SHA256 keyed with
    ``"<timestamp in seconds>\\n<secret>"`` over an empty message. It travels in the JSON
    body, next to ``"timestamp"``, not in the URL (unlike DingTalk's)."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


class FeishuChannel(Channel):
    """A Feishu custom bot; see the module docstring."""

    platform = "feishu"
    sample_url = "feishu://0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    label: ClassVar[str] = "Feishu"  # the platform's name in error messages
    host: ClassVar[str] = "open.feishu.cn"
    dialect = "feishu"
    length_unit = "bytes"
    max_length = 18000  # of the markdown text; the card, title, mentions and keyword take the rest
    # 100 a minute and 5 a second per bot ("100 次/分钟, 5 次/秒"), else code 11232
    rates = (Rate(5, 1.0), Rate(100, 60.0))
    supported_options = Channel.supported_options | {"secret", "keyword", "mention"}
    native_urls = (("open.feishu.cn", _PATH),)
    short_form = "feishu://[secret@]hook_id"

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        hook_id = parts.path.removeprefix(_PATH).rstrip("/")
        if not parts.path.startswith(_PATH) or not hook_id or "/" in hook_id:
            return f"a {cls.label} bot URL is https://{cls.host}{_PATH}<hook id>"
        return None

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        if not _HOOK_ID.fullmatch(host) or path.strip("/"):
            raise ValueError(
                f"the {cls.label} short form is {cls.platform}://[secret@]hook_id "
                "(the last part of the bot's URL)"
            )
        return f"https://{cls.host}{_PATH}{host}"

    def mention_markup(self, mention: str) -> str:
        where = f"webhook URL {self.masked_url}"
        if mention.lower() in ("all", "@all"):
            return "<at id=all></at>"
        if "@" in mention:
            raise ConfigError(
                f"{where}: {self.label} custom bots cannot mention by e-mail ({mention!r}); "
                "use the member's open_id (ou_…) or user_id"
            )
        if _MOBILE.fullmatch(mention):
            raise ConfigError(
                f"{where}: {self.label} mention {mention!r} looks like a mobile number; custom "
                "bots mention by open_id (ou_…) or user_id only"
            )
        if not _USER_ID.fullmatch(mention):
            raise ConfigError(
                f"{where}: {self.label} mention {mention!r} is not an open_id (ou_…), a user_id "
                "or all"
            )
        return f"<at id={mention}></at>"

    @property
    def masked_url(self) -> str:
        # the whole path after /hook/ is the token, even a part that looks like a word
        return _TOKEN_PATH.sub(r"\1***", mask_url_secrets(self.url))

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        signature: dict[str, str] = {}
        if self.options.secret:
            timestamp = int(time.time() if now is None else now)
            signature = {"timestamp": str(timestamp), "sign": sign(self.options.secret, timestamp)}
        if message.payload is not None:
            # a custom payload is sent as it is, but still signed: the bot refuses it otherwise
            return post_json(self.url, json_body({**message.payload, **signature}))
        return post_json(self.url, self._body(message, signature))

    def _body(self, message: Message, signature: dict[str, str]) -> bytes:
        keyword = self.options.keyword

        def encode(text: str) -> bytes:
            # checked against the text alone: whether Feishu also searches the header and
            # the note is not documented, and a refused alert costs more than a repeated word
            if keyword and keyword not in text:
                text = f"{text}\n\n{keyword}" if text.strip() else keyword
            return json_body({**signature, **self.payload(message, text)})

        text = message.body
        body = encode(text)
        size = len(text.encode())
        while len(body) > BODY_LIMIT and size > 0:
            # the renderer keeps the text under max_length; this guards against one that did
            # not. JSON escapes only add bytes, so cutting the excess (and the room of the
            # truncation note) from the text converges in a step or two.
            size = max(0, size - (len(body) - BODY_LIMIT) - 64)
            text = truncate(message.body, size, "bytes", locale=message.locale)
            body = encode(text)
        return body

    def payload(self, message: Message, text: str | None = None) -> dict[str, Any]:
        """The card for a rendered message (without the signature fields), with ``text``
        (by default the message's body) as the content of its markdown element."""
        text = message.body if text is None else text
        elements: list[dict[str, Any]] = []
        if text.strip():
            elements.append(_markdown(text))
        mentions = self.mention_markups(message.mentions)
        if mentions:
            elements.append(_markdown(" ".join(mentions)))
        buttons = _buttons(message.links)
        if buttons:
            elements.append({"tag": "action", "actions": buttons})
        note = _note(message)
        if note:
            elements.append({"tag": "hr"})
            elements.append({"tag": "note", "elements": [{"tag": "plain_text", "content": note}]})
        # the header is plain_text, which Feishu documents as shown as it is (no <at>, no
        # markdown): the title goes in byte for byte
        title = message.title or message.kind
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": title},
                    "template": _header_template(message),
                },
                "elements": elements,
            },
        }

    def judge(self, response: httpx.Response) -> Judgement:
        status = response.status_code
        if status == 429 or status >= 500:
            return _with_reset(judge_http_status(response), response)
        answer = json_object(response)
        if answer is None:
            if not response.is_success:
                return judge_http_status(response)
            # an HTML page from a gateway or proxy: Feishu did not see the message
            return Judgement(Verdict.RETRY, f"not a {self.label} answer: {response.text[:300]!r}")
        # "code" is the documented field; "StatusCode" is the older one, which some answers
        # still carry alongside it
        key = "code" if "code" in answer else "StatusCode"
        code = json_code(answer.get(key))
        if code is None:
            if not response.is_success:
                return judge_http_status(response)
            return Judgement(Verdict.RETRY, f"no code in the answer: {answer!r:.300}")
        if code == 0:
            return Judgement.ok() if response.is_success else judge_http_status(response)
        words = answer.get("msg", answer.get("StatusMessage", ""))
        reason = f"code {code}: {str(words)[:300]}"
        if code in (THROTTLED, GATEWAY_THROTTLED):
            return Judgement(Verdict.RETRY, reason, _reset(response) or _THROTTLE_WAIT)
        if code == INTERNAL_ERROR:
            return Judgement(Verdict.RETRY, reason)
        # 9499 (bad request: format or size), 19021 (sign or timestamp mismatch), 19022 (IP
        # not allowed), 19024 (keyword missing) and the rest: never accepted as it is
        return Judgement(Verdict.FAIL, reason)


class LarkChannel(FeishuChannel):
    """A Lark custom bot: Feishu's international edition, on its own host."""

    platform = "lark"
    sample_url = "lark://0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    label = "Lark"
    host = "open.larksuite.com"
    native_urls = (("open.larksuite.com", _PATH),)
    short_form = "lark://[secret@]hook_id"

    template_family = FeishuChannel.platform  # the same cards, the same markdown


def _header_template(message: Message) -> str:
    """The card header's colour name: purple storm, yellow digest, alert by level (red for
    errors, carmine critical, orange warning, blue info, grey debug)."""
    kind_template = _KIND_TEMPLATES.get(message.kind)
    if kind_template:
        return kind_template
    return _LEVEL_TEMPLATES.get(message.level.lower(), _ALERT_TEMPLATE)


def _buttons(links: tuple[Link, ...]) -> list[dict[str, Any]]:
    """A button per link for the card's ``action`` element: ``text`` plain_text (shown as
    written), ``url`` opened on a tap ("按钮 button": ``tag``, ``text``, ``url``, ``type``
    in Feishu's message card docs)."""
    shown = links_within(links, LINKS_BUDGET, lambda link: len(json_body(_button(link))))
    return [_button(link) for link in shown]


def _button(link: Link) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": link.name},
        "url": link.url,
        "type": "default",
    }


def _markdown(text: str) -> dict[str, Any]:
    # the rich text element, not a div's lark_md: lark_md has no code spans or blocks
    return {"tag": "markdown", "content": text}


def _note(message: Message) -> str:
    """``2026-11-26 18:20:01 UTC · event 5f0c2a9e0b7d``: when it happened, in the message's
    time zone, and the id to look for in the logs (``capture_exception`` returns it), in
    its language (``2026-11-27 02:20:01 UTC+8 · 事件 5f0c2a9e0b7d``)."""
    parts: list[str] = []
    if message.created_at > 0:
        with contextlib.suppress(OverflowError, OSError, ValueError):  # a time past year 9999
            parts.append(format_time(message.created_at, message.zone))
    parts.append(event_label(message.event_id, message.locale))
    return " · ".join(filter(None, parts))


def _reset(response: httpx.Response) -> float | None:
    """Seconds to wait: ``Retry-After``, else the gateway's ``x-ogw-ratelimit-reset``."""
    wait = parse_retry_after(response)
    if wait is not None:
        return wait
    try:
        wait = float(response.headers.get("x-ogw-ratelimit-reset", ""))
    except ValueError:
        return None
    return max(0.0, wait) if math.isfinite(wait) else None


def _with_reset(judgement: Judgement, response: httpx.Response) -> Judgement:
    if judgement.verdict is Verdict.RETRY and judgement.retry_after is None:
        return Judgement(judgement.verdict, judgement.reason, _reset(response))
    return judgement


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (
    FeishuChannel,
    LarkChannel,
)


# -- the feishu dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = True

_MENTION = re.compile(r"<at\b", re.IGNORECASE)


def _span(text: str) -> str | None:
    if "`" in text or "\n" in text or _MENTION.search(text):
        return None
    return f"`{text}`" if text else ""


_MARKDOWN_RULES = Markdown(escape_char=charref, span=_span, tokens=tokens(BARE_LINK))
_BREAKS = re.compile("`+|\n|(?i:<at\\b)")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN_RULES)


code, span, block = code_functions(
    escape,
    CodeMarkup(
        _span, _BREAKS, refuse_block=lambda text: "```" in text or bool(_MENTION.search(text))
    ),
)


DIALECT = Dialect.of(
    "feishu",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
