"""Slack incoming webhooks (``https://hooks.slack.com/services/T…/B…/…``).

The message is a header block with the title, an optional line of mentions, and the body
in ``mrkdwn`` sections inside an attachment, whose colour bar tells alert, digest and storm
apart at a glance; the configured links are link buttons in an ``actions`` block under
the body. Slack answers ``200 ok`` on success and a plain-text error word
(``invalid_payload``, ``channel_not_found``…) with a 4xx status otherwise.

How untrusted text is shown, the ``slack`` dialect (``DIALECT``):

Slack mrkdwn (section, context and attachment text; the message's ``text``).

The rules, from Slack's "Formatting text for app surfaces":

- Slack documents exactly three escapes, ``&amp;`` ``&lt;`` ``&gt;``, and decodes no other
  entity. They apply everywhere, code included. Every control sequence (``<!channel>``,
  ``<!here>``, ``<@U…>``, ``<#C…>``, ``<http://…|label>``) starts with a raw ``<``, so with
  ``<`` escaped none can form.
- A plain ``@channel`` or ``@name`` is text: names are linked only with ``link_names``,
  which erralert never sends (nor ``parse: full``).
- ``*bold*``, ``_italic_``, ``~strike~`` and `` `code` `` have no escape. A word pair that
  would format is shown as an inline code span (same characters, no formatting).
- Bare URLs, ``www.`` names and mail addresses are linked by the client: they are shown as
  code spans too.
- Code spans take a single backtick and cannot hold one, nor a line break; a code block
  cannot hold ```` ``` ````. Text that needs those is shown as prose. A backtick has no
  escape at all in mrkdwn: it is left as it is (erralert never substitutes a look-alike).
"""

from __future__ import annotations

import bisect
import re
from typing import Any
from urllib.parse import SplitResult

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate
from erralert.channels.base import Channel, Message
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import break_out_code, one_span_per_line
from erralert.channels.dialects.controls import strip_controls
from erralert.channels.dialects.tokens import BARE_LINK, may_hold_tokens
from erralert.channels.masking import mask_url_secrets
from erralert.channels.payloads import accent_colour, json_body, links_within, post_json

__all__ = ["CHANNELS", "DIALECT", "SlackChannel"]

HEADER_LIMIT = 150  # plain_text of a header block
SECTION_LIMIT = 3000  # mrkdwn text of a section block
# characters of the whole JSON body: Slack refused payloads near 13k characters with
# msg_blocks_too_long
PAYLOAD_LIMIT = 13_000
# Block Kit's limits ("Actions block", "Button element"): at most 25 elements in an actions
# block, a button's plain_text at most 75 characters, its url at most 3000
ACTIONS_LIMIT = 25
BUTTON_TEXT_LIMIT = 75
BUTTON_URL_LIMIT = 3000
LINKS_BUDGET = 3000  # characters of the buttons' JSON; the body gets the rest of the payload
_FENCE = "```"

# `here`, `channel` and `everyone` are Slack's own broadcast words; `all` is erralert's
# platform-neutral spelling of "everybody in this channel"
_BROADCASTS = {"here": "<!here>", "channel": "<!channel>", "everyone": "<!everyone>"}
_BROADCASTS["all"] = _BROADCASTS["channel"]
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")


class SlackChannel(Channel):
    platform = "slack"
    sample_url = "slack://T0AB1CD2E/B0FG3HI4J/abcDEF123ghiJKL456mnoPQR"
    dialect = "slack"
    # the envelope stays below the ~13k characters Slack refused with msg_blocks_too_long
    max_length = 11000
    # "about 1 message per second per webhook, short bursts allowed": any 3 s hold at most 3,
    # so a burst of 3 leaves at once and the rate over any longer stretch stays at 1/s
    rates = (Rate(3, 3.0),)
    supported_options = Channel.supported_options | {"mention"}
    native_urls = (("hooks.slack.com", "/services/"), ("hooks.slack-gov.com", "/services/"))
    short_form = "slack://T…/B…/…"

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        tokens = parts.path.removeprefix("/services/").strip("/").split("/")
        if len(tokens) != 3 or not all(tokens):
            return "a Slack webhook URL ends in /services/T…/B…/… (three parts)"
        return None

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        tokens = [host, *path.strip("/").split("/")]
        if len(tokens) != 3 or not all(tokens):
            raise ValueError("the Slack short form is slack://T…/B…/… (three parts)")
        return "https://hooks.slack.com/services/" + "/".join(tokens)

    def mention_markup(self, mention: str) -> str:
        if mention.lower() in _BROADCASTS:
            return _BROADCASTS[mention.lower()]
        if _USER_ID.fullmatch(mention):
            return f"<@{mention}>"
        if _GROUP_ID.fullmatch(mention):
            return f"<!subteam^{mention}>"
        raise ConfigError(
            f"webhook URL {self.masked_url}: Slack mention {mention!r} is not a member id "
            "(U…/W…), a user-group id (S…), here, channel, everyone or all"
        )

    @property
    def masked_url(self) -> str:
        # every segment after /services/ is part of the token, even one that looks like a word
        head, sep, _ = self.url.partition("/services/")
        if not sep:
            return mask_url_secrets(self.url)
        return f"{mask_url_secrets(head)}/services/***/***/***"

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        if message.payload is not None:
            return post_json(self.url, json_body(message.payload))
        body = message.body
        encoded = json_body(self.payload(message, body))
        size = len(encoded.decode())
        while size > PAYLOAD_LIMIT and body:
            # the body is within max_length, but JSON writes each quote, backslash and
            # line break of it as two characters: a body made of them can double in size.
            # Cut it by the excess (and a little), which converges in a step or two.
            room = max(0, len(body) - (size - PAYLOAD_LIMIT) - 64)
            body = truncate(message.body, room, locale=message.locale)
            encoded = json_body(self.payload(message, body))
            size = len(encoded.decode())
        return post_json(self.url, encoded)

    def payload(self, message: Message, body: str | None = None) -> dict[str, Any]:
        """The JSON body for a rendered message (without a custom payload template);
        ``body``, when given, stands in for the message's body (``build_request`` passes
        one cut to fit)."""
        title = message.title or message.kind
        mentions = " ".join(self.mention_markups(message.mentions))
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(title), "emoji": True}}
        ]
        if mentions:
            blocks.append(_section(mentions))
        payload: dict[str, Any] = {
            # the notification and screen-reader text; mrkdwn, so the plain title is escaped
            "text": " ".join(filter(None, (mentions, DIALECT.escape(title)))),
            "blocks": blocks,
            # the app's URLs in a traceback must not be fetched for previews
            "unfurl_links": False,
            "unfurl_media": False,
        }
        body = message.body if body is None else body
        sections = split_sections(truncate(body, self.max_length, locale=message.locale))
        actions = _actions(message.links)
        if sections:
            attachment = [_section(s) for s in sections]
            # under the body, inside the colour bar
            payload["attachments"] = [
                {"color": accent_colour(message), "blocks": attachment + actions}
            ]
        else:
            blocks.extend(actions)
        return payload


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut mrkdwn into pieces of at most ``limit`` characters, at line ends where it can.
    A ````` ``` ````` block cut in two is closed and reopened, so both halves render as code."""
    budget = limit - 2 * (len(_FENCE) + 1)  # room to close and reopen a code block
    pieces: list[str] = []
    lines: list[str] = []
    size = -1  # the newline joining the first line is not there
    for line in _short_lines(text.split("\n"), budget):
        if lines and size + 1 + len(line) > budget:
            pieces.append("\n".join(lines))
            lines, size = [], -1
        lines.append(line)
        size += 1 + len(line)
    if lines:
        pieces.append("\n".join(lines))

    sections: list[str] = []
    in_code = False
    for piece in pieces:
        if in_code:
            piece = f"{_FENCE}\n{piece}"
        in_code = piece.count(_FENCE) % 2 == 1
        if in_code:
            piece = f"{piece}\n{_FENCE}"
        if piece.strip():  # Slack refuses a section with blank text
            sections.append(piece)
    return sections


def _short_lines(lines: list[str], limit: int) -> list[str]:
    """Lines longer than ``limit`` cut into pieces, never inside an ``&amp;``-style entity."""
    out: list[str] = []
    for line in lines:
        while len(line) > limit:
            cut = limit
            amp = line.rfind("&", limit - 5, limit)
            if amp > 0 and ";" not in line[amp:limit]:
                cut = amp
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def _actions(links: tuple[Link, ...]) -> list[dict[str, Any]]:
    """An ``actions`` block of link buttons, or nothing. A link whose URL is over Slack's
    3000 characters is left out (Slack refuses the whole message for it), a name over 75
    characters is cut. A link button needs no interactivity; an app without a request URL
    shows a small warning after a click (slackapi/node-slack-sdk#869), the link opens."""
    usable = [link for link in links if len(link.url) <= BUTTON_URL_LIMIT][:ACTIONS_LIMIT]
    shown = links_within(usable, LINKS_BUDGET, lambda link: len(json_body(_button(link))))
    if not shown:
        return []
    return [{"type": "actions", "elements": [_button(link) for link in shown]}]


def _button(link: Link) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": _cut(link.name, BUTTON_TEXT_LIMIT), "emoji": True},
        "url": link.url,
    }


def _cut(text: str, limit: int = HEADER_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (SlackChannel,)


# -- the slack dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = True

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# what Slack formats: a delimiter not inside a word, content on one line
_FORMATTING = re.compile(
    r"(?<![\w*])\*[^*\n]+\*(?![\w*])|(?<![\w_])_[^_\n]+_(?![\w_])|(?<![\w~])~[^~\n]+~(?![\w~])"
)
_LINKS = re.compile(BARE_LINK.replace("[^\\s<>]", "[^\\s<>`]"))
_SPACE = re.compile(r"\s")
_NEWLINE = re.compile("\n")
_DELIMITER = re.compile("[*_~]")


def _entities(text: str) -> str:
    return text.translate(_ENTITIES)


def escape(text: str) -> str:
    text = strip_controls(text)
    ranges = [m.span() for m in _LINKS.finditer(text)] if may_hold_tokens(text) else []
    spaces: list[int] | None = None
    pairs = _FORMATTING.finditer(text) if _DELIMITER.search(text) else ()
    for match in pairs:
        if spaces is None:
            spaces = [m.start() for m in _SPACE.finditer(text)]
        # the whole words around the pair, so that no half of a word sits in code
        before = bisect.bisect_left(spaces, match.start())
        after = bisect.bisect_left(spaces, match.end())
        start = spaces[before - 1] + 1 if before else 0
        ranges.append((start, spaces[after] if after < len(spaces) else len(text)))
    if not ranges:
        return _entities(text)
    out: list[str] = []
    pos = 0
    for start, end in sorted(ranges):
        if start < pos:
            start = pos
            if start >= end:
                continue
        piece = text[start:end]
        if "`" in piece:
            continue  # a code span cannot hold it: left as prose
        out.append(_entities(text[pos:start]))
        out.append(f"`{_entities(piece)}`")
        pos = end
    out.append(_entities(text[pos:]))
    return "".join(out)


def code(text: str) -> str:
    # a code span cannot cross a line: closed before each line break, opened after it
    return break_out_code(_entities(strip_controls(text)), _NEWLINE, _entities)


def span(text: str) -> str:
    text = strip_controls(text)
    if not text:
        return ""
    if "`" in text or "\n" in text:
        return escape(text)
    return f"`{_entities(text)}`"


def block(text: str, language: str = "") -> str:
    # mrkdwn's ``` blocks take no language
    text = strip_controls(text)
    if "```" in text:
        return one_span_per_line(text, span, "\n")
    return f"```\n{_entities(text)}\n```"


DIALECT = Dialect.of(
    "slack",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
