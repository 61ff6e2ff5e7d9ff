"""Rocket.Chat incoming webhooks (self-hosted): ``rocketchat+https://chat.example.com/hooks/<id>/<token>``.

Rocket.Chat has no host of its own to recognise a pasted URL by, so it is named either
explicitly (``rocketchat+https://…``, ``rocketchat+http://…`` for a server without TLS)
or by the short form ``rocketchat://host[:port][/path]/<id>/<token>``, which stands for
``https://host[:port][/path]/hooks/<id>/<token>``.

The message is the title in bold (with the mentions under it: what notifications show)
and the body in an attachment whose colour bar tells alert, digest and storm apart; it
is posted as ``erralert`` with a :rotating_light: avatar. ``@all`` and ``@here`` notify a
whole room and have no escape, so the rocketchat dialect shows every ``@`` word of a value
as inline code, where mentions notify nobody. Rocket.Chat answers ``{"success": true}``, and
``{"success": false, "error": "…"}`` when it refuses.

The configured links are a line of markdown links under the body, in the attachment.
Rocket.Chat documents no buttons for messages a webhook posts (``chat.postMessage``'s
attachments: general, author, title, image, audio, video and fields); its web client
still draws an attachment's ``actions``, but its own types mark them deprecated.

How untrusted text is shown, the ``rocketchat`` dialect (``DIALECT``):

Rocket.Chat markdown (@rocket.chat/message-parser: the message's text and attachments).

The rules, from the parser and Rocket.Chat's issues:

- A backslash escapes exactly ``* _ ~ ` # .`` (RocketChat/fuselage#899, "escaping only
  necessary characters"); before anything else it is shown as it is. A character that
  needs escaping and has no escape (a ``>`` or ``-`` that would start a quote or a list,
  a ``[`` of a link, a live backslash) is shown as a code span of its own.
- ``@all``, ``@here`` and ``@name`` notify and have no escape; mentions inside inline code
  notify nobody (RocketChat/Rocket.Chat#7759, fixed). So ``@`` words are shown as code
  spans, as are bare URLs, ``www.`` names, mail addresses and whole ``[label](url)``
  links.
- Single ``*`` is bold, ``_`` italic, ``~`` strike. No raw HTML, no entities, no tables, no
  indented code.
- Inline code takes one backtick and cannot hold one, nor a line break; fenced blocks take
  ```` ``` ````, so a text holding ```` ``` ```` becomes one code span per line.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from erralert._core.errors import ConfigError
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate
from erralert.channels.answers import json_object
from erralert.channels.base import Channel, Judgement, Message, Verdict, parse_retry_after
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import (
    CodeMarkup,
    Markdown,
    code_functions,
    escape_markdown,
)
from erralert.channels.dialects.tokens import BARE_LINK, MENTION_WORD, tokens
from erralert.channels.masking import mask_url_secrets
from erralert.channels.payloads import accent_colour, json_body, markdown_links, post_json
from erralert.channels.self_hosted import self_hosted_hook

__all__ = ["CHANNELS", "DIALECT", "MESSAGE_LIMIT", "RocketChatChannel"]

# characters of a message: the default of the Message_MaxAllowedSize setting. erralert
# holds the whole request to it, so the message fits however a server counts it (servers
# check the text; attachments are not counted today).
MESSAGE_LIMIT = 5000
TITLE_LIMIT = 250  # the renderer's limit; a Message built by hand is held to it too
LINKS_BUDGET = 1000  # characters of the links line; the body gets the rest
ALIAS = "erralert"
EMOJI = ":rotating_light:"

# Rocket.Chat's broadcast words; `channel` is Slack's and Mattermost's word for `all`
_BROADCASTS = {"all": "@all", "here": "@here", "channel": "@all"}
# the default of UTF8_User_Names_Validation: [0-9a-zA-Z-_.]+
_NAME = re.compile(r"@?([0-9A-Za-z._-]+)")
_PART = re.compile(r"[A-Za-z0-9_-]+")
# "… You must wait 12 seconds before trying this endpoint again. [error-too-many-requests]"
_WAIT = re.compile(r"wait (\d+(?:\.\d+)?) seconds")


class RocketChatChannel(Channel):
    """A Rocket.Chat room an incoming webhook integration posts to."""

    platform = "rocketchat"
    sample_url = "rocketchat+https://chat.example.com/hooks/ABC123/xyz456"
    dialect = "rocketchat"
    # of the attachment's text; the bold title, the mentions and the JSON around them take
    # the rest of MESSAGE_LIMIT
    max_length = 4500
    # Rocket.Chat's API rate limiter, on by default, applies its default rule to each
    # webhook since 6.x: 10 calls in any 60 s (API_Enable_Rate_Limiter_Limit_Calls_Default,
    # API_Enable_Rate_Limiter_Limit_Time_Default); more is refused with 429
    rates = (Rate(10, 60.0),)
    supported_options = Channel.supported_options | {"mention"}
    short_form = "rocketchat://host[:port][/path]/id/token"

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        return self_hosted_hook(
            host,
            path,
            tokens=2,
            token=_PART,
            form=cls.short_form or "",
            tokens_are="the Rocket.Chat webhook id and token are the two parts at the end of "
            "https://host/hooks/id/token",
        )

    def mention_markup(self, mention: str) -> str:
        broadcast = _BROADCASTS.get(mention.lower())
        if broadcast:
            return broadcast
        match = _NAME.fullmatch(mention)
        if match and mention.lower() != "everyone":
            return f"@{match[1]}"
        raise ConfigError(
            f"webhook URL {self.masked_url}: Rocket.Chat mention {mention!r} is not a "
            "username (letters, digits, . - _), all or here"
        )

    @property
    def masked_url(self) -> str:
        # the id and the token together are the credential
        head, sep, rest = self.url.partition("/hooks/")
        if not sep:
            return mask_url_secrets(self.url)
        return f"{mask_url_secrets(head)}/hooks/" + "/".join("***" for _ in rest.split("/"))

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        if message.payload is not None:
            return post_json(self.url, json_body(message.payload))
        body = truncate(message.body, self.max_length, locale=message.locale)
        encoded = json_body(self.payload(message, body))
        while len(encoded.decode()) > MESSAGE_LIMIT and body:
            # the renderer keeps the body under max_length; a long title, many mentions
            # or a body of JSON escapes (quotes, line breaks) can still overflow: cut the
            # body by the excess, which converges in a step or two
            excess = len(encoded.decode()) - MESSAGE_LIMIT
            body = truncate(message.body, max(0, len(body) - excess), locale=message.locale)
            encoded = json_body(self.payload(message, body))
        return post_json(self.url, encoded)

    def payload(self, message: Message, body: str | None = None) -> dict[str, Any]:
        """The JSON body for a rendered message (without a custom payload template);
        ``body``, when given, stands in for the message's body (``build_request`` passes
        one cut to fit)."""
        title = message.title or message.kind
        if len(title) > TITLE_LIMIT:
            title = title[: TITLE_LIMIT - 1] + "…"
        # *single* asterisks: bold in both of Rocket.Chat's parsers (the message's and the
        # attachment's)
        text = f"*{DIALECT.escape(title)}*"
        mentions = self.mention_markups(message.mentions)
        if mentions:
            text += "\n" + " ".join(mentions)
        payload: dict[str, Any] = {
            "alias": ALIAS,
            "emoji": EMOJI,
            "text": text,
            # the app's URLs in a traceback must not be fetched for previews
            "parseUrls": False,
        }
        body = message.body if body is None else body
        links = markdown_links(message.links, DIALECT.escape, LINKS_BUDGET)
        if links:
            # under the body, in the attachment (a body cut to fit keeps them)
            body = f"{body.rstrip()}\n\n{links}" if body.strip() else links
        if body.strip():
            payload["attachments"] = [{"color": accent_colour(message), "text": body}]
        return payload

    def judge(self, response: httpx.Response) -> Judgement:
        status = response.status_code
        answer = json_object(response)
        said = _error(answer, response)
        if 200 <= status < 300:
            if answer is None:
                # Rocket.Chat's web app answers 200 with its HTML page for any path it
                # has no route for: the URL is not the integration's webhook URL
                return Judgement(
                    Verdict.FAIL,
                    f"HTTP {status} but not a Rocket.Chat answer (is this the integration's "
                    f"webhook URL?): {said}",
                )
            if answer.get("success") is True:
                return Judgement.ok()
            return Judgement(Verdict.FAIL, f"Rocket.Chat: {said}")
        reason = f"HTTP {status}: {said}"
        if status == 429:
            wait = parse_retry_after(response)
            if wait is None:
                match = _WAIT.search(said)
                wait = float(match[1]) if match else None
            return Judgement(Verdict.RETRY, reason, wait)
        if status >= 500 or status == 408:
            if status == 503:
                # what Rocket.Chat answers for a disabled integration, too
                reason += " (is the integration enabled?)"
            return Judgement(Verdict.RETRY, reason, parse_retry_after(response))
        # 400 (invalid-channel, a script's error), 401/403 (wrong id or token), 404 …:
        # this message will never be accepted
        return Judgement(Verdict.FAIL, reason)


def _error(answer: dict[str, Any] | None, response: httpx.Response) -> str:
    """Rocket.Chat's own words: ``error`` (the webhook API) or ``message`` (its
    authentication layer), else the start of the body."""
    if answer is not None:
        for key in ("error", "message"):
            value = answer.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())[:300]
    try:
        return response.text.strip()[:300]
    except Exception:  # body not read or undecodable: the status says enough
        return ""


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (RocketChatChannel,)


# -- the rocketchat dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = True

_ESCAPABLE = frozenset("*_~`#.")
_LINK = r"!?\[[^\[\]\n]*\]\([^()\s]*\)"


def _escape_char(char: str) -> str | None:
    return "\\" + char if char in _ESCAPABLE else None


def _span(text: str) -> str | None:
    if "`" in text or "\n" in text:
        return None
    return f"`{text}`" if text else ""


_MARKDOWN_RULES = Markdown(
    escape_char=_escape_char,
    span=_span,
    tokens=tokens(_LINK, BARE_LINK, MENTION_WORD),
    angle=re.compile(r"(?!)"),  # no raw HTML, no <autolinks>
    entities=False,
    indented_code=False,
    tables=False,
)
_BREAKS = re.compile("`+|\n")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN_RULES)


# Rocket.Chat ends a block at the first ``` whatever the opening fence's length
code, span, block = code_functions(
    escape, CodeMarkup(_span, _BREAKS, refuse_block=lambda text: "```" in text)
)


DIALECT = Dialect.of(
    "rocketchat",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
