"""Mattermost incoming webhooks (self-hosted): ``mattermost+https://chat.example.com/hooks/<key>``.

Mattermost has no host of its own to recognise a pasted URL by, so it is named either
explicitly (``mattermost+https://…``, ``mattermost+http://…`` for a server without TLS) or
by the short form ``mattermost://host[:port][/path]/<key>`` (apprise: ``mmost://``), which
stands for ``https://host[:port][/path]/hooks/<key>``.

The message is the title in bold (with the mentions under it: the notification text),
and the body in a Slack-style attachment whose colour bar tells alert, digest and storm
apart. Mattermost renders an attachment's text as markdown and, like the post's own text,
looks for @-mentions in it; ``@channel``, ``@all`` and ``@here`` have no escape there, so
the mattermost dialect shows every ``@`` word of a value as inline code, where mentions
notify nobody. Mattermost answers ``200 ok``; errors are JSON ``{"id", "message", …}``.

The configured links are a line of markdown links under the body, in the attachment: an
attachment's ``actions`` are interactive buttons that post to an integration's URL, not
links.

How untrusted text is shown, the ``mattermost`` dialect (``DIALECT``):

Mattermost markdown (the post's text and its attachments' text).

The rules, from Mattermost's "Format messages" and its renderer (a fork of marked, GFM):

- A backslash escapes ``\\ ` * { } [ ] ( ) # + - . ! _ > ~ |`` (marked's list): those get
  it. Any other character that needs escaping gets an HTML character reference
  (``&lt;``, ``&#61;``, ``&#32;``), which the renderer keeps as an entity for the browser
  to show as the character.
- ``@channel``, ``@all``, ``@here`` and ``@name`` notify, and have no escape; mentions
  inside code spans and code blocks notify nobody (the server strips code before looking
  for them). So an ``@`` word is shown as an inline code span, as are bare URLs, ``www.``
  names and mail addresses, which GFM links by itself.
- Slack-compatible webhooks turn ``<!channel>`` and ``<@id>`` into mentions, so a ``<``
  before a letter, ``/``, ``!``, ``?``, ``@`` or ``#`` is escaped (raw HTML and
  ``<autolinks>`` start the same way). Nothing says the conversion spares code, so text
  holding ``<!`` or ``<@`` is never put in a code span or block.
- Emphasis, links, entities and block structure follow CommonMark and GFM (tables,
  strikethrough, fenced code of any length, indented code).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from erralert._core.errors import ConfigError
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate
from erralert.channels.answers import json_object
from erralert.channels.base import Channel, Judgement, Message, judge_http_status
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import (
    CodeMarkup,
    Markdown,
    charref,
    code_functions,
    commonmark_span,
    escape_markdown,
)
from erralert.channels.dialects.tokens import BARE_LINK, MENTION_WORD, tokens
from erralert.channels.masking import mask_url_secrets
from erralert.channels.payloads import accent_colour, json_body, markdown_links, post_json
from erralert.channels.self_hosted import self_hosted_hook

__all__ = ["CHANNELS", "DIALECT", "POST_LIMIT", "MattermostChannel"]

# characters of a post's message (model.PostMessageMaxRunesV2); erralert holds the whole
# request to it, so the message fits even if a server counted the attachment too
POST_LIMIT = 16383
TITLE_LIMIT = 250  # the renderer's limit; a Message built by hand is held to it too
LINKS_BUDGET = 1000  # characters of the links line; the body gets the rest
USERNAME = "erralert"  # shown only where "integrations may override usernames" is on

# `channel`, `all` and `here` are Mattermost's own broadcast words
_BROADCASTS = frozenset({"channel", "all", "here"})
# usernames and group names: a letter, then letters, digits, ".", "-" and "_"
_NAME = re.compile(r"@?([A-Za-z][A-Za-z0-9._-]{0,63})")
_KEY = re.compile(r"[A-Za-z0-9]+")


class MattermostChannel(Channel):
    """A Mattermost channel an incoming webhook posts to."""

    platform = "mattermost"
    sample_url = "mattermost+https://chat.example.com/hooks/xyz123abc456"
    dialect = "mattermost"
    # of the attachment's text; the bold title, the mentions and the JSON around them take
    # the rest of POST_LIMIT
    max_length = 15000
    # Mattermost sets no limit on webhooks, and a server's own rate limiting is off by
    # default (10 requests per second with bursts of 100 when on). One message a second
    # with bursts of 10 keeps a channel readable and stays far below that; a storm is
    # folded into one summary instead.
    rates = (Rate(10, 10.0),)
    supported_options = Channel.supported_options | {"mention"}
    short_form = "mattermost://host[:port][/path]/key"

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        return self_hosted_hook(
            host,
            path,
            tokens=1,
            token=_KEY,
            form=cls.short_form or "",
            tokens_are="the Mattermost webhook key is the letters and digits at the end of "
            "https://host/hooks/key",
        )

    def mention_markup(self, mention: str) -> str:
        if mention.lower() in _BROADCASTS:
            return f"@{mention.lower()}"
        match = _NAME.fullmatch(mention)
        if match:
            return f"@{match[1]}"
        raise ConfigError(
            f"webhook URL {self.masked_url}: Mattermost mention {mention!r} is not a "
            "username or group name (a letter, then letters, digits, . - _), channel, all "
            "or here"
        )

    @property
    def masked_url(self) -> str:
        # the key is the credential, even when it happens to look like a word
        head, sep, _ = self.url.partition("/hooks/")
        return f"{mask_url_secrets(head)}/hooks/***" if sep else mask_url_secrets(self.url)

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        if message.payload is not None:
            return post_json(self.url, json_body(message.payload))
        body = truncate(message.body, self.max_length, locale=message.locale)
        encoded = json_body(self.payload(message, body))
        while len(encoded.decode()) > POST_LIMIT and body:
            # the renderer keeps the body under max_length; a long title, many mentions
            # or a body of JSON escapes (quotes, line breaks) can still overflow: cut the
            # body by the excess, which converges in a step or two
            excess = len(encoded.decode()) - POST_LIMIT
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
        text = f"**{DIALECT.escape(title)}**"
        mentions = self.mention_markups(message.mentions)
        if mentions:
            text += "\n" + " ".join(mentions)
        payload: dict[str, Any] = {"username": USERNAME, "text": text}
        body = message.body if body is None else body
        links = markdown_links(message.links, DIALECT.escape, LINKS_BUDGET)
        if links:
            # under the body, in the attachment (a body cut to fit keeps them)
            body = f"{body.rstrip()}\n\n{links}" if body.strip() else links
        if body.strip():
            payload["attachments"] = [
                {
                    # plain text for notifications and clients without attachments; the
                    # title is escaped there too, as nothing says Mattermost never parses it
                    "fallback": DIALECT.escape(title),
                    "color": accent_colour(message),
                    "text": body,
                }
            ]
        return payload

    def judge(self, response: httpx.Response) -> Judgement:
        # 400 (invalid webhook, bad payload), 403 (webhooks disabled), 404, 413 …: refused
        # for good, in Mattermost's own words
        return judge_http_status(response, _error(response))


def _error(response: httpx.Response) -> str:
    """Mattermost's own words: the ``message`` of its JSON error (with its ``id``), else
    the start of the body."""
    answer = json_object(response)
    if answer is not None and isinstance(answer.get("message"), str):
        said = " ".join(answer["message"].split())[:300]
        error_id = answer.get("id")
        return f"{said} ({error_id})" if isinstance(error_id, str) and error_id else said
    try:
        return response.text.strip()[:300]
    except Exception:  # body not read or undecodable: the status says enough
        return ""


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (MattermostChannel,)


# -- the mattermost dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = True

_ESCAPABLE = frozenset("\\`*{}[]()#+-.!_>~|")


def _escape_char(char: str) -> str:
    return "\\" + char if char in _ESCAPABLE else charref(char)


_MARKDOWN_RULES = Markdown(
    escape_char=_escape_char,
    span=commonmark_span,
    tokens=tokens(BARE_LINK, MENTION_WORD),
    angle=re.compile(r"<(?=[A-Za-z/!?@#])"),
)
_SLACK_MENTION = re.compile("<[!@]")
_BREAKS = re.compile("`+|\n|<[!@]")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN_RULES)


def _span(text: str) -> str | None:
    return None if _SLACK_MENTION.search(text) else commonmark_span(text)


code, span, block = code_functions(
    escape, CodeMarkup(_span, _BREAKS, refuse_block=lambda text: bool(_SLACK_MENTION.search(text)))
)


DIALECT = Dialect.of(
    "mattermost",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
