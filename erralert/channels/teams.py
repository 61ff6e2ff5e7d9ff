"""Microsoft Teams, through a Workflows (Power Automate) webhook.

A workflow built from Teams' "Post to a channel when a webhook request is received" template
gives a URL such as ``https://prod-12.westus.logic.azure.com:443/workflows/…/triggers/manual/
paths/invoke?api-version=…&sp=…&sv=…&sig=…`` (newer ones live on
``….environment.api.powerplatform.com``). Every query parameter is part of it; ``sig`` is the
credential. The old Office 365 connector URLs (``….webhook.office.com/webhookb2/…``) were
retired by Microsoft and are refused with a pointer to Workflows.

erralert posts one Adaptive Card: the title as a large heading coloured by kind and level,
then the body, one TextBlock per line (a blank line leaves a gap, a list stays one list and
a fenced block becomes monospace lines: Teams' markdown has no code blocks and keeps line
breaks reliably only inside lists). Mentions are ``<at>Name</at>`` in a TextBlock plus a
matching ``msteams.entities`` entry; untrusted text can never produce either, since the
teams dialect escapes every ``<`` before a tag name.

The flow runs after Teams has answered ``202 Accepted``: a card the flow then fails to post
is never reported back to erralert, only the trigger's refusals are.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import SplitResult, parse_qsl

import httpx

from erralert.channels.base import (
    Channel,
    Judgement,
    Message,
    Rate,
    Verdict,
    each_mention,
    encode_within,
    json_body,
    json_object,
    judge_http_status,
    post_json,
)
from erralert.dialects import DIALECTS
from erralert.errors import ConfigError

__all__ = ["TeamsChannel"]

# Teams refuses a posted message past "approximately 28 KB" ("request entity too large",
# the Teams connector's known limitations in Microsoft's docs). The whole request body is
# held under this: it is larger than the card Teams measures, so the margin is on our side.
BODY_LIMIT = 27_000
NAME_LIMIT = 100  # characters of a mention's display name

_MARKDOWN = DIALECTS["teams"]
_EMAIL = re.compile(r"[^\s@<>|,]+@[^\s@<>|,]+\.[^\s@<>|,]+")
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# a fence of the template's (untrusted text cannot make one: the dialect escapes ` and ~)
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r" {0,3}(?:[-+*]|\d{1,9}[.)]) ")
_INDENT = re.compile(r"^ +")
# TextBlock colours (Adaptive Cards' names) for an alert's level; digests are "Warning" and
# storms "Attention", whatever the level
_LEVEL_COLOURS = {"warning": "Warning", "info": "Accent", "debug": "Default"}


class TeamsChannel(Channel):
    platform = "teams"
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
        # a body of very many short lines (a TextBlock each) can outgrow the card
        encoded = encode_within(
            lambda body: self.payload(message, body),
            message.body,
            BODY_LIMIT,
            margin=200,
            locale=message.locale,
        )
        return post_json(self.url, encoded)

    def payload(self, message: Message, body: str | None = None) -> dict[str, Any]:
        """The JSON body for a rendered message (without a custom payload template)."""
        blocks: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": _MARKDOWN.escape(message.title or message.kind),
                "size": "Large",
                "weight": "Bolder",
                "color": _colour(message),
                "wrap": True,
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
        blocks.extend(text_blocks(message.body if body is None else body))
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": blocks,
            "msteams": msteams,
        }
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


def text_blocks(body: str) -> list[dict[str, Any]]:
    """TextBlocks for a markdown body: one per line (a blank line leaves the default gap,
    lines that follow each other get none), consecutive list items as one list, and the
    lines of a fenced block in a monospace font with their indentation kept."""
    blocks: list[dict[str, Any]] = []
    gap = False  # a blank line (or a fence) came before the next block
    in_list = False  # the last block is a list that the next item may join
    fence: str | None = None
    for line in body.split("\n"):
        marker = _FENCE.match(line)
        if fence is None and marker:
            fence, gap, in_list = marker.group(1), True, False
            continue
        if fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence, gap = None, True
            elif stripped:
                # leading spaces are collapsed by the renderer: no-break spaces are not
                text = _INDENT.sub(lambda m: "\u00a0" * len(m.group()), line.rstrip())
                blocks.append(_block(text, gap or not blocks, fontType="Monospace"))
                gap = False
            continue
        if not line.strip():
            gap, in_list = True, False
            continue
        item = bool(_LIST_ITEM.match(line))
        if item and in_list and not gap:
            blocks[-1]["text"] += "\n" + line  # Teams keeps line breaks inside a list
            continue
        blocks.append(_block(line, gap or not blocks))
        gap, in_list = False, item
    return blocks


def _block(text: str, spaced: bool, **extra: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True, **extra}
    if not spaced:
        block["spacing"] = "None"
    return block


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
