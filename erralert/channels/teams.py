"""Microsoft Teams, through a Workflows (Power Automate) webhook.

A workflow built from Teams' "Post to a channel when a webhook request is received" template
gives a URL such as ``https://prod-12.westus.logic.azure.com:443/workflows/…/triggers/manual/
paths/invoke?api-version=…&sp=…&sv=…&sig=…`` (newer ones live on
``….environment.api.powerplatform.com``). Every query parameter is part of it; ``sig`` is the
credential. The old Office 365 connector URLs (``….webhook.office.com/webhookb2/…``) were
retired by Microsoft and are refused with a pointer to Workflows.

erralert posts one Adaptive Card: the title as a large heading coloured by kind and level,
then the body as RichTextBlocks of TextRuns (``erralert.channels.teams_text`` reads the
template's markdown: bold, italic, code spans and fenced blocks in a monospace font,
lists), which Teams shows as written: an error's text reaches the reader byte for byte.
The configured links are the card's ``Action.OpenUrl`` buttons. Mentions are
``<at>Name</at>`` in a TextBlock plus a matching ``msteams.entities`` entry; untrusted
text can never produce either, since a TextRun is never parsed.

The flow runs after Teams has answered ``202 Accepted``: a card the flow then fails to post
is never reported back to erralert, only the trigger's refusals are.

How untrusted text is shown, the ``teams`` dialect (``DIALECT``):

Microsoft Teams: markup for erralert's own reader of the card text.

The Teams channel never hands the body to Teams' markdown. A TextBlock's markdown has no
code spans and no reliable escapes ("Text features in Adaptive Cards": bold, italic,
lists and links only), while the TextRuns of a RichTextBlock are shown as written:
"RichTextBlock does not support Markdown". So the channel reads the body itself
(``erralert.channels.teams_text``: ``**bold**``, ``_italic_``, CommonMark code spans,
``` fences, ``-`` lists, backslash escapes) and sends TextRuns. The rules here are that
reader's:

- A backslash before ASCII punctuation is that character, meaning nothing; the reader
  consumes it, so no escape reaches the payload. Untrusted text escapes every character
  the reader treats as markup, wherever it is (a value can sit next to the template's
  own ``_`` or ``**``): ``\\``, `````, ``*`` and ``_``; and, at the start of a line, the
  ``-``, ``+`` and ``~`` that would make a list item or a fence.
- Code spans and fences are CommonMark's, their text carried verbatim: the span's
  backtick fence is longer than any run inside, a block's fence longer than any run in
  the block.
- Mentions: Teams mentions only with ``<at>…</at>`` in a TextBlock plus a matching
  ``msteams.entities`` entry, which the channel writes for configured people alone; a
  TextRun is never parsed, so untrusted text cannot form one, nor a link.
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
from erralert.channels.answers import json_object
from erralert.channels.base import (
    Channel,
    Judgement,
    Message,
    Verdict,
    each_mention,
    judge_http_status,
)
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import CodeMarkup, code_functions, commonmark_span
from erralert.channels.dialects.controls import strip_controls
from erralert.channels.payloads import encode_within, json_body, links_within, post_json
from erralert.channels.teams_text import rich_text_blocks

__all__ = ["CHANNELS", "DIALECT", "TeamsChannel"]

# Teams refuses a posted message past "approximately 28 KB" ("request entity too large",
# the Teams connector's known limitations in Microsoft's docs). The whole request body is
# held under this: it is larger than the card Teams measures, so the margin is on our side.
BODY_LIMIT = 27_000
NAME_LIMIT = 100  # characters of a mention's display name
LINKS_BUDGET = 4_000  # bytes of the card's Action.OpenUrl buttons; the body gets the rest

_EMAIL = re.compile(r"[^\s@<>|,]+@[^\s@<>|,]+\.[^\s@<>|,]+")
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# TextBlock colours (Adaptive Cards' names) for an alert's level; digests are "Warning" and
# storms "Attention", whatever the level
_LEVEL_COLOURS = {"warning": "Warning", "info": "Accent", "debug": "Default"}


class TeamsChannel(Channel):
    platform = "teams"
    sample_url = (
        "https://prod-12.westus.logic.azure.com:443/workflows/0a1b2c/triggers/manual/paths/"
        "invoke?api-version=2016-06-01&sig=S1G"
    )
    dialect = "teams"  # TextBlock markdown: **bold**, _italic_, lists, [links](url); no HTML
    length_unit = "bytes"
    # of the body; the card around it (one TextBlock per line, ~80 bytes each) takes the rest
    # of BODY_LIMIT, and build_request cuts the body further in the rare case it does not fit
    max_length = 20_000
    # Microsoft documents no rate for workflow webhooks. The flow posts as a bot, and Teams
    # holds a bot to 7 messages in 3 s and 60 in 30 s per conversation (Teams "rate limit"
    # docs); the flow's Teams connection allows about 100 calls a minute (unverified). 5 in
    # any 5 s and 30 in any minute stays under all of them with room for flows that make
    # more than one call per run, and keeps a storm readable.
    rates = (Rate(5, 5.0), Rate(30, 60.0))
    supported_options = Channel.supported_options | {"mention"}
    native_urls = (
        ("*.logic.azure.com", "/workflows/"),
        ("*.api.powerplatform.com", "/powerautomate/"),
        ("*.environment.api.powerplatform.com", "/powerautomate/"),
        # retired Office 365 connectors: recognised only to say what to use instead
        ("*.webhook.office.com", "/webhookb2/"),
        ("outlook.office.com", "/webhook"),
        ("outlook.office365.com", "/webhook"),
    )
    short_form = None

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        host = parts.hostname or ""
        if host.endswith(".webhook.office.com") or host.startswith("outlook.office"):
            return (
                "this is an Office 365 connector URL, and Microsoft retired those connectors: "
                "in Teams, create a workflow from the template 'Post to a channel when a "
                "webhook request is received' and use the URL it gives"
            )
        params = dict(parse_qsl(parts.query))
        if not params.get("sig"):
            return (
                "the Teams workflow URL has no sig=…: copy the whole URL, query string "
                "included (a workflow that only users of your organisation may trigger needs "
                "a sign-in erralert cannot do: let anyone trigger it)"
            )
        if "/triggers/" not in parts.path:
            return "a Teams workflow URL ends in …/triggers/manual/paths/invoke?…&sig=…"
        return None

    def mention_markup(self, mention: str) -> str:
        return f"<at>{self._parse_mention(mention)[0]}</at>"

    def _mentioned(self, entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        """``(display name, id)`` of each entry, duplicates and entries Teams cannot mention
        (only a message built by hand has one) left out, in order."""
        return each_mention(entries, self._parse_mention)

    def _parse_mention(self, mention: str) -> tuple[str, str]:
        """``(display name, id)`` from ``user@contoso.com``, an Entra (Azure AD) object id,
        or either after ``Name|``."""
        name, _, ident = mention.rpartition("|")
        ident = ident.strip()
        name = " ".join(name.split()) or ident
        if not (_EMAIL.fullmatch(ident) or _OBJECT_ID.fullmatch(ident)):
            raise ConfigError(
                f"webhook URL {self.masked_url}: Teams mention {mention!r} is not a user's "
                "email/UPN or Entra object id (optionally after Name|, e.g. "
                "Ada%20Lovelace|ada@contoso.com); cards a workflow posts can mention users only"
            )
        if len(name) > NAME_LIMIT or any(c in name for c in "<>&") or not name.isprintable():
            raise ConfigError(
                f"webhook URL {self.masked_url}: Teams mention name {name!r} must be printable, "
                f"at most {NAME_LIMIT} characters, without < > &"
            )
        return name, ident

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        if message.payload is not None:
            return post_json(self.url, json_body(message.payload))
        # a body of very many short lines (a RichTextBlock each) can outgrow the card
        encoded = encode_within(
            lambda body: self.payload(message, body),
            message.body,
            BODY_LIMIT,
            margin=200,
            locale=message.locale,
        )
        return post_json(self.url, encoded)

    def payload(self, message: Message, body: str | None = None) -> dict[str, Any]:
        """The JSON body for a rendered message (without a custom payload template);
        ``body``, when given, stands in for the message's body (``build_request`` passes
        one cut to fit)."""
        blocks: list[dict[str, Any]] = [
            {
                # a TextRun, not a TextBlock: the title is shown as written, never parsed
                "type": "RichTextBlock",
                "inlines": [
                    {
                        "type": "TextRun",
                        "text": message.title or message.kind,
                        "size": "Large",
                        "weight": "Bolder",
                        "color": _colour(message),
                    }
                ],
            }
        ]
        msteams: dict[str, Any] = {"width": "Full"}
        mentioned = self._mentioned(message.mentions)
        if mentioned:
            tags = [f"<at>{name}</at>" for name, _ in mentioned]
            blocks.append({"type": "TextBlock", "text": " ".join(tags), "wrap": True})
            msteams["entities"] = [
                {"type": "mention", "text": tag, "mentioned": {"id": ident, "name": name}}
                for tag, (name, ident) in zip(tags, mentioned, strict=True)
            ]
        blocks.extend(rich_text_blocks(message.body if body is None else body))
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": blocks,
        }
        actions = _open_url_actions(message.links)
        if actions:
            card["actions"] = actions
        card["msteams"] = msteams
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }

    def judge(self, response: httpx.Response) -> Judgement:
        # 202 Accepted: the flow was triggered (200 also seen); the workflow's JSON error in
        # its own words (None: a gateway or proxy answered)
        judgement = judge_http_status(response, _error(response))
        if response.status_code == 413:
            reason = f"{judgement.reason}; Teams takes cards up to about 28 KB"
            return Judgement(Verdict.FAIL, reason)
        return judgement


def _open_url_actions(links: tuple[Link, ...]) -> list[dict[str, str]]:
    """The card's buttons: an ``Action.OpenUrl`` (``title``, ``url``) per link, in order
    (Adaptive Cards schema, "Action.OpenUrl"). Teams shows up to six of a card's actions
    as buttons and the rest in an overflow menu (MicrosoftDocs/bot-docs#2161); the size
    guard counts them with the card. A title is plain text, shown as written."""
    shown = links_within(links, LINKS_BUDGET, lambda link: len(json_body(_action(link))))
    return [_action(link) for link in shown]


def _action(link: Link) -> dict[str, str]:
    return {"type": "Action.OpenUrl", "title": link.name, "url": link.url}


def _colour(message: Message) -> str:
    if message.kind == "digest":
        return "Warning"
    if message.kind == "storm":
        return "Attention"
    return _LEVEL_COLOURS.get(message.level.lower(), "Attention")


def _error(response: httpx.Response) -> str | None:
    """``"InvalidRequestContent: …"`` from Power Automate's ``{"error": {"code", "message"}}``."""
    answer = json_object(response)
    error = answer.get("error") if answer is not None else None
    if not isinstance(error, dict):
        return None
    code, text = error.get("code"), error.get("message")
    words = ": ".join(str(part) for part in (code, text) if part)
    return words[:500] or json.dumps(error)[:500]


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (TeamsChannel,)


# -- the teams dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = True

_MARKUP = re.compile(r"[\\`*_]")
# a list marker or a fence at a line start (backticks and "*" are escaped anywhere)
_LINE_START = re.compile(r"^( *)([-+~])", re.MULTILINE)
_BREAKS = re.compile("`+|\n")


def escape(text: str) -> str:
    text = _MARKUP.sub(r"\\\g<0>", strip_controls(text))
    return _LINE_START.sub(r"\1\\\2", text)


code, span, block = code_functions(escape, CodeMarkup(commonmark_span, _BREAKS))


DIALECT = Dialect.of(
    "teams",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
