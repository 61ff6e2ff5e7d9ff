"""WeCom group robots (企业微信群机器人): ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``.

The ``key`` is the robot's only credential (WeCom robots have no signing and no keyword
security), so it is masked wherever the URL is shown. Short form: ``wecom://KEY``.

Messages are ``markdown``: headings, ``**bold**``, ``>`` quotes, `` `code` `` and
``<font color="warning|info|comment">``, at most 4096 bytes of UTF-8 content.

Mentions: in a markdown message WeCom mentions a member only through ``<@userid>`` in the
content. ``@all`` and mobile numbers exist only in the ``mentioned_list`` and
``mentioned_mobile_list`` of *text* messages, which have no formatting and half the room.
So ``?mention=`` takes userids; ``all`` or a mobile number is a ``ConfigError`` when the
channel is made, rather than an alert that silently mentions nobody.

The configured links are a line of markdown links after the body: a markdown message has
no buttons.

WeCom answers HTTP 200 to refusals too: the verdict is the ``errcode`` of the body.

How untrusted text is shown, the ``wecom`` dialect (``DIALECT``):

WeCom (企业微信) group robot markdown (``markdown.content``).

The rules, from WeCom's "群机器人配置说明":

- The documented subset is ``#`` headings, ``**bold**``, ``[links](url)``, `` `inline code` ``
  (one line: "暂不支持跨行"), ``>`` quotes and ``<font color="info|comment|warning">``. The
  text is HTML underneath, so HTML character references are the escape.
- ``<@userid>`` in the content mentions a member: its ``<`` is escaped in prose, and text
  holding ``<@`` is never put in a code span (nothing says WeCom ignores it there).
- Bare URLs, ``www.`` names and mail addresses are shown as code spans.
- No code blocks: a code block is one code span per line (WeCom keeps a single line
  break).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import SplitResult

import httpx

from erralert._core.errors import ConfigError
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate
from erralert.channels.answers import errcode_verdict, json_object
from erralert.channels.base import Channel, Judgement, Message, Verdict, judge_http_status
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import (
    CodeMarkup,
    Markdown,
    charref,
    code_functions,
    escape_markdown,
)
from erralert.channels.dialects.tokens import BARE_LINK, tokens
from erralert.channels.payloads import json_body, markdown_links, post_json

__all__ = ["CHANNELS", "CONTENT_LIMIT", "DIALECT", "WeComChannel"]

CONTENT_LIMIT = 4096  # bytes of markdown.content, UTF-8 ("最长不超过4096个字节")
# the body is rendered this much shorter, so that the mentions after it fit without cutting
_MENTION_ROOM = 128
LINKS_BUDGET = 1024  # bytes of the links line; the body is cut to leave room for it
THROTTLED = 45009  # "api freq out of limit": more than 20 messages in a minute
BUSY = -1  # WeCom's global "system busy, try again later"

# "1 to 64 bytes of letters, digits and _-@., starting with a letter or a digit"
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_@.-]{0,63}")
# a Chinese mobile number, the kind DingTalk's atMobiles takes, with or without +86
_MOBILE = re.compile(r"(?:\+?86)?1\d{10}|\+\d{7,15}")
# WeCom keys are UUIDs; anything outside URL-safe characters is a paste error
_KEY = re.compile(r"[A-Za-z0-9_.~-]+")


class WeComChannel(Channel):
    """A WeCom group robot; see the module docstring."""

    platform = "wecom"
    sample_url = "wecom://693a91f6-7aaa-4bc4-97a0-0ec2afa5aaa0"
    dialect = "wecom"
    length_unit = "bytes"
    max_length = CONTENT_LIMIT - _MENTION_ROOM
    rates = (Rate(20, 60.0),)  # "每个机器人发送的消息不能超过20条/分钟", else errcode 45009
    supported_options = Channel.supported_options | {"mention"}
    native_urls = (("qyapi.weixin.qq.com", "/cgi-bin/webhook/send"),)
    short_form = "wecom://key"

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        if parts.path.rstrip("/") != "/cgi-bin/webhook/send":
            return "a WeCom robot URL is https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"
        if not any(p.startswith("key=") and p[4:] for p in parts.query.split("&")):
            return "the WeCom URL has no key"
        return None

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        if not _KEY.fullmatch(host) or path.strip("/"):
            raise ValueError("the WeCom short form is wecom://key (the key of the robot's URL)")
        return f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={host}"

    def mention_markup(self, mention: str) -> str:
        where = f"webhook URL {self.masked_url}"
        if mention.lower() in ("all", "@all"):
            raise ConfigError(
                f"{where}: WeCom markdown messages cannot mention everyone (@all exists only "
                "in plain-text messages); mention members by userid instead"
            )
        if _MOBILE.fullmatch(mention):
            raise ConfigError(
                f"{where}: WeCom mention {mention!r} looks like a mobile number; markdown "
                "messages mention members by userid only (<@userid>)"
            )
        if not _USER_ID.fullmatch(mention):
            raise ConfigError(
                f"{where}: WeCom mention {mention!r} is not a userid (1 to 64 letters, "
                "digits, _ - @ . starting with a letter or digit)"
            )
        return f"<@{mention}>"

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        payload = message.payload if message.payload is not None else self.payload(message)
        return post_json(self.url, json_body(payload))

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body for a rendered message (without a custom payload template)."""
        tail = ""
        links = markdown_links(message.links, DIALECT.escape, LINKS_BUDGET, "bytes")
        if links:
            tail = "\n\n" + links
        mentions = self.mention_markups(message.mentions)
        if mentions:
            tail += "\n\n" + " ".join(mentions)
        content = message.body
        if not content.strip():
            # WeCom refuses empty content; the title is plain text, so escape it
            content = DIALECT.escape(message.title) or message.kind
        room = CONTENT_LIMIT - len(tail.encode())
        # the renderer keeps the body under max_length; this guards against a body that is
        # not (a custom renderer) and against links and mentions longer than the room kept
        # for them: WeCom counts bytes
        content = truncate(content, room, "bytes", locale=message.locale)
        return {"msgtype": "markdown", "markdown": {"content": content + tail}}

    def judge(self, response: httpx.Response) -> Judgement:
        if not response.is_success:  # the robot answers 200; anything else is the HTTP layer's
            return judge_http_status(response)
        answer = json_object(response)
        if answer is None:
            # an HTML page from a gateway or proxy: WeCom did not see the message
            return Judgement(Verdict.RETRY, f"not a WeCom answer: {response.text[:300]!r}")
        # throttled: the limit is counted per minute, within one the robot stays refused;
        # 93000 (invalid webhook url: a wrong or deleted key), 40058 (a bad field), 44004
        # (empty content) and the rest: this message will never be accepted
        return errcode_verdict(answer, retry={THROTTLED: 60.0, BUSY: None})


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (WeComChannel,)


# -- the wecom dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = False

_MENTION = re.compile(r"<@")


def _span(text: str) -> str | None:
    if "`" in text or "\n" in text or _MENTION.search(text):
        return None
    return f"`{text}`" if text else ""


_MARKDOWN_RULES = Markdown(
    escape_char=charref,
    span=_span,
    tokens=tokens(BARE_LINK),
    angle=re.compile(r"<(?=[A-Za-z/!?@])"),
)
_BREAKS = re.compile("`+|\n|<@")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN_RULES)


code, span, block = code_functions(escape, CodeMarkup(_span, _BREAKS, blocks=False))


DIALECT = Dialect.of(
    "wecom",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
