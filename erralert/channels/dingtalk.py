"""DingTalk custom robots (钉钉自定义机器人): ``https://oapi.dingtalk.com/robot/send?access_token=…``.

A robot may be protected by a signing secret (``?secret=SEC…``: every request carries
``timestamp`` and ``sign`` query parameters), by keywords (``?keyword=…``: one must appear in
every message, so erralert appends it when the text lacks it) and by an IP allow-list.
DingTalk answers HTTP 200 to refusals too: the verdict is the ``errcode`` of the body.

The message is ``markdown``. With configured links, a message that mentions nobody is an
``actionCard`` instead (the same title and text, a button per link); an ``actionCard``
has no ``at`` field, so a message that mentions someone stays ``markdown`` and gets the
links as a line of markdown links at its end.

How untrusted text is shown, the ``dingtalk`` dialect (``DIALECT``):

DingTalk robot markdown (``markdown.text``, ``actionCard.text``).

The rules, from DingTalk's "custom robot message types" (自定义机器人消息类型):

- The documented subset is headings, ``>`` quotes, ``**bold**``, ``*italic*``,
  ``[links](url)``, ``![images](url)`` and ``-``/``1.`` lists; ``<font color>`` is
  rendered too, so the text is HTML underneath. No backslash escapes are documented:
  HTML character references are the escape (``&#42;``, ``&lt;``), and a backslash that
  CommonMark would read as an escape is written ``&#92;``, which shows a backslash
  whether or not DingTalk honours backslash escapes.
- Mentions happen only through the ``at`` field: an ``@`` in the text names nobody and is
  left alone.
- No code spans or code blocks are documented: a code span is escaped prose, and a code
  block is its lines as escaped prose, one per line, joined by Markdown's hard line
  break (two spaces before the line break): DingTalk does not keep a single line break.
- Bare URLs and ``www.`` names are broken by a character reference for their ``:`` or
  ``.``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import SplitResult

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.pacing import Rate
from erralert._core.wording import cut_note
from erralert.channels.answers import errcode_verdict, json_number, json_object
from erralert.channels.base import Channel, Judgement, Message, Verdict, judge_http_status
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import (
    Markdown,
    charref,
    escape_markdown,
    one_span_per_line,
)
from erralert.channels.dialects.controls import strip_controls
from erralert.channels.payloads import json_body, links_within, markdown_links, post_json

__all__ = ["CHANNELS", "DIALECT", "DingTalkChannel", "sign"]

BODY_LIMIT = 20000  # bytes of the whole request body; errcode 460101 past it
LINKS_BUDGET = 3000  # bytes of the buttons' JSON (or of the links line); the text gets the rest
THROTTLED = 130101  # "send too fast, exceed 20 times per minute"
BUSY = -1  # DingTalk's "system busy, try again later" (from its global code table)
GATEWAY_BUSY = 1111  # `{"status": 1111, "wait": N}` from the gateway in front of the robots


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's request signature: base64 of HMAC-SHA256 keyed with the secret over
    ``"<timestamp in ms>\\n<secret>"``. It travels URL-encoded in the ``sign`` parameter."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel(Channel):
    platform = "dingtalk"
    sample_url = "dingtalk://0123abcd4567ef"
    dialect = "dingtalk"
    length_unit = "bytes"
    max_length = 18000  # of the text; the JSON envelope, mentions and keyword take the rest
    rates = (Rate(20, 60.0),)  # 20 per robot in any minute, else errcode 130101
    supported_options = Channel.supported_options | {"secret", "keyword", "mention"}
    native_urls = (("oapi.dingtalk.com", "/robot/send"),)
    short_form = "dingtalk://[secret@]access_token"

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        if parts.path.rstrip("/") != "/robot/send":
            return "a DingTalk robot URL is https://oapi.dingtalk.com/robot/send?access_token=…"
        if not any(p.startswith("access_token=") and p[13:] for p in parts.query.split("&")):
            return "the DingTalk URL has no access_token"
        return None

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        if not host or path.strip("/"):
            raise ValueError("the DingTalk short form is dingtalk://[secret@]access_token")
        return f"https://oapi.dingtalk.com/robot/send?access_token={host}"

    def mention_markup(self, mention: str) -> str:
        # the entry itself: `all` becomes isAtAll, digits a mobile, anything else a userId
        if not mention or any(c.isspace() or not c.isprintable() for c in mention):
            raise ConfigError(
                f"webhook URL {self.masked_url}: DingTalk mention {mention!r} is not a mobile "
                "number, a userId or all"
            )
        return mention

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        url = httpx.URL(self.url)
        if self.options.secret:
            timestamp = int((time.time() if now is None else now) * 1000)
            # merged, not appended: a pasted URL may carry a stale timestamp and sign
            url = url.copy_merge_params(
                {"timestamp": str(timestamp), "sign": sign(self.options.secret, timestamp)}
            )
        if message.payload is not None:
            return post_json(url, json_body(message.payload))
        return post_json(url, self._body(message))

    def _body(self, message: Message) -> bytes:
        mobiles: list[str] = []
        user_ids: list[str] = []
        at_all = False
        for mention in self.mention_markups(message.mentions):
            if mention.lower() == "all":
                at_all = True
            elif mention.isdigit():
                mobiles.append(mention)
            else:
                user_ids.append(mention)
        # DingTalk highlights a mention only when its @ is in the text too
        tail = " ".join(f"@{m}" for m in (*mobiles, *user_ids))
        tail = f"\n\n{tail}" if tail else ""
        mentions = bool(mobiles or user_ids or at_all)
        links: tuple[Link, ...] = ()
        if mentions:
            # an actionCard cannot mention anyone: the links go in the markdown
            line = markdown_links(message.links, DIALECT.escape, LINKS_BUDGET, "bytes")
            tail = f"\n\n{line}{tail}" if line else tail
        else:
            links = links_within(
                message.links, LINKS_BUDGET, lambda link: len(json_body(_button(link)))
            )
        keyword = self.options.keyword
        if keyword and keyword not in message.body + tail:
            # checked against the text alone: whether DingTalk also searches the title is
            # not documented, and a refused alert costs more than a repeated word
            tail += f"\n\n{keyword}"

        def encode(text: str) -> bytes:
            if links:
                return json_body(_action_card(message.title, text + tail, links))
            return json_body(
                {
                    "msgtype": "markdown",
                    "markdown": {"title": message.title, "text": text + tail},
                    "at": {"atMobiles": mobiles, "atUserIds": user_ids, "isAtAll": at_all},
                }
            )

        body = encode(message.body)
        text = message.body
        cut = "\n\n" + cut_note(message.locale)
        while len(body) > BODY_LIMIT and text:
            # the renderer keeps the text under max_length; this guards against one that did
            # not. JSON escapes only add bytes, so cutting the excess from the text is enough.
            excess = len(body) - BODY_LIMIT + len(cut.encode())
            kept = text.encode()[: max(0, len(text.encode()) - excess)]
            text = kept.decode(errors="ignore")  # drops a character cut in half
            body = encode(text + cut)
        return body

    def judge(self, response: httpx.Response) -> Judgement:
        if not response.is_success:  # the robot answers 200; anything else is the HTTP layer's
            return judge_http_status(response)
        answer = json_object(response)
        if answer is None:
            # an HTML page from a gateway or proxy: DingTalk did not see the message
            return Judgement(Verdict.RETRY, f"not a DingTalk answer: {response.text[:300]!r}")
        if answer.get("status") == GATEWAY_BUSY:
            return Judgement(
                Verdict.RETRY, f"gateway busy: {answer!r:.300}", json_number(answer.get("wait"))
            )
        # throttled: the robot stays refused for the rest of the minute (or for 10);
        # 310000 (sign not match, invalid timestamp, keywords not in content, ip not in
        # whitelist), 460101 (too large) and the rest: this message will never be accepted
        return errcode_verdict(answer, retry={THROTTLED: 60.0, BUSY: None})


def _action_card(title: str, text: str, links: tuple[Link, ...]) -> dict[str, Any]:
    """An independent-jump ``actionCard`` ("独立跳转 ActionCard 类型": ``title``, ``text``
    in markdown, ``btnOrientation``, ``btns`` of ``title`` and ``actionURL``, from
    DingTalk's custom robot message types): side by side for up to three buttons, one under
    the other for more, which stays readable on a phone."""
    return {
        "msgtype": "actionCard",
        "actionCard": {
            "title": title,
            "text": text,
            "btnOrientation": "1" if len(links) <= 3 else "0",
            "btns": [_button(link) for link in links],
        },
    }


def _button(link: Link) -> dict[str, str]:
    return {"title": link.name, "actionURL": link.url}


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (DingTalkChannel,)


# -- the dingtalk dialect: untrusted text in the platform's markup ----------

CODE_SPANS = False
CODE_BLOCKS = False

_MARKDOWN_RULES = Markdown(escape_char=charref)
LINE_BREAK = "  \n"


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN_RULES)


def code(text: str) -> str:
    return escape(text)


def span(text: str) -> str:
    return escape(text)


def block(text: str, language: str = "") -> str:
    return one_span_per_line(strip_controls(text), escape, LINE_BREAK)


DIALECT = Dialect.of(
    "dingtalk",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
