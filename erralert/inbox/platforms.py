"""What each chat platform accepts, and what it answers — the rules the inbox plays by.

One class per platform: the rates it enforces per hook, the checks its service makes on a
request (structure, limits, keyword) and its answers in the service's own shapes: success,
refusal and "too fast". Each signing platform checks its signature with
``erralert.inbox.signatures`` (written apart from the channels' signing code); the
order of the checks is ``erralert.inbox.receive``'s.

Numbers and words come from the platforms' documentation (see the project's
chat-platforms reference); the ones marked (unverified) are the best public evidence.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from erralert._core.pacing import Rate
from erralert.inbox.markup import TagReader
from erralert.inbox.signatures import check_dingtalk, check_feishu, check_webhook

__all__ = [
    "PLATFORMS",
    "Answer",
    "Incoming",
    "Platform",
    "telegram_html_problem",
    "telegram_visible_text",
]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One webhook request, as the platform's service sees it."""

    platform: str
    path: str  # without the query string
    hook: str  # the part of the path that names the hook (its token, its space …)
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    payload: Any  # the parsed JSON body, None when it is not JSON
    received_at: float  # UNIX seconds


@dataclass(frozen=True, slots=True)
class Answer:
    """What the inbox answers, and (``error``) why it refused, for the page."""

    status: int
    body: bytes = b""
    media_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None  # None: accepted

    @classmethod
    def json(
        cls,
        status: int,
        document: object,
        error: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Answer:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, "application/json", headers, error)

    @classmethod
    def text(cls, status: int, text: str, error: str | None = None, **kw: Any) -> Answer:
        return cls(status, text.encode(), "text/plain; charset=utf-8", error=error, **kw)


def _has_keyword(text: str, keywords: tuple[str, ...]) -> bool:
    return any(keyword in text for keyword in keywords)


def _retry_header(wait: float) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", str(max(1, math.ceil(wait)))),)


class Platform:
    """The rules of one platform; subclasses override what differs."""

    name: ClassVar[str]
    rates: ClassVar[tuple[Rate, ...]] = ()  # enforced per hook (``rate_key``)
    # DingTalk, Feishu and Lark robots may require a keyword in every message
    keyword_security: ClassVar[bool] = False

    def rate_key(self, incoming: Incoming) -> str:
        return incoming.hook

    def check(self, incoming: Incoming) -> Answer | None:
        """The service's refusal of this request, or None when it would take it."""
        return None

    def text_of(self, payload: Any) -> str:
        """Every text of the message, for the keyword check."""
        return json.dumps(payload, ensure_ascii=False)

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        """The service's refusal of a request not signed with ``secret``; None when the
        signature matches, and always for a platform that signs nothing."""
        return None

    def keyword_refusal(self, keywords: tuple[str, ...], incoming: Incoming) -> Answer | None:
        """The service's refusal of a message without any of ``keywords``; None when one
        is there, and always for a platform without keyword security."""
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return Answer.text(200, "ok")

    def throttled(self, wait: float) -> Answer:
        return Answer.json(429, {"error": "too many requests"}, "rate limited", _retry_header(wait))


# -- Slack ------------------------------------------------------------------------------------

_SLACK_BLOCK_TYPES = frozenset(
    {"header", "section", "context", "divider", "markdown", "rich_text", "image", "actions"}
)


class Slack(Platform):
    name = "slack"
    # "about one message per second per webhook, short bursts allowed": a minute's worth in
    # any minute, however bunched
    rates = (Rate(60, 60.0),)

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return Answer.text(400, "invalid_payload", "invalid_payload: the body is not JSON")
        text = payload.get("text")
        blocks = payload.get("blocks")
        attachments = payload.get("attachments")
        if not (isinstance(text, str) and text.strip()) and not blocks and not attachments:
            return Answer.text(400, "no_text", "no_text: no text, blocks or attachments")
        problem = _slack_blocks(blocks, "blocks")
        if problem is None and attachments is not None:
            if not isinstance(attachments, list):
                problem = "attachments is not a list"
            for i, attachment in enumerate(attachments if isinstance(attachments, list) else []):
                if isinstance(attachment, dict) and problem is None:
                    problem = _slack_blocks(attachment.get("blocks"), f"attachments[{i}].blocks")
        if problem is not None:
            return Answer.text(400, "invalid_blocks", f"invalid_blocks: {problem}")
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        # payloads near 13k characters were refused with this word (not documented)
        if size > 13_000:
            return Answer.text(
                400,
                "msg_blocks_too_long",
                f"msg_blocks_too_long: the payload is {size} characters (Slack refuses ~13000)",
            )
        return None

    def throttled(self, wait: float) -> Answer:
        return Answer.text(
            429, "rate_limited", "rate_limited: over ~1 message/s", headers=_retry_header(wait)
        )


def _slack_blocks(blocks: Any, where: str) -> str | None:
    """What is wrong with a list of Block Kit blocks, or None."""
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return f"{where} is not a list"
    if len(blocks) > 50:
        return f"{where} has {len(blocks)} blocks (at most 50)"
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        if not isinstance(block, dict) or block.get("type") not in _SLACK_BLOCK_TYPES:
            return f"{at} is not a block Slack knows"
        kind = block["type"]
        text = block.get("text")
        text = text if isinstance(text, dict) else {}
        words = text.get("text")
        if kind == "header":
            if not isinstance(words, str) or not words or text.get("type") != "plain_text":
                return f"{at}: a header needs plain_text"
            if len(words) > 150:
                return f"{at}: header text is {len(words)} characters (at most 150)"
        elif kind == "section":
            fields = block.get("fields")
            if words is None and not fields:
                return f"{at}: a section needs text or fields"
            if words is not None and (not isinstance(words, str) or not 1 <= len(words) <= 3000):
                return f"{at}: section text must be 1 to 3000 characters"
            if fields is not None and (not isinstance(fields, list) or len(fields) > 10):
                return f"{at}: a section has at most 10 fields"
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return f"{at}: a context block has 1 to 10 elements"
        elif kind == "markdown":
            words = block.get("text")
            if not isinstance(words, str) or len(words) > 12_000:
                return f"{at}: markdown text must be at most 12000 characters"
        elif kind == "actions":
            problem = _slack_actions(block.get("elements"), at)
            if problem is not None:
                return problem
    return None


def _slack_actions(elements: Any, at: str) -> str | None:
    """What is wrong with an actions block's elements ("Actions block", "Button element":
    at most 25 elements; a button's plain_text at most 75 characters, its url at most
    3000), in the words of Slack's ``invalid_blocks`` details."""
    if not isinstance(elements, list) or not elements:
        return f"{at}.elements: must provide a non-empty array"
    if len(elements) > 25:
        return f"{at}.elements: must provide an array with no more than 25 items"
    for j, element in enumerate(elements):
        where = f"{at}.elements[{j}]"
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            return f"{where}: must provide an object with a type"
        if element["type"] != "button":
            continue
        text = element.get("text")
        text = text if isinstance(text, dict) else {}
        words = text.get("text")
        if not isinstance(words, str) or not words or text.get("type") != "plain_text":
            return f"{where}.text: must be a plain_text object with text"
        if len(words) > 75:
            return f"{where}.text: must be less than 76 characters"
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > 3000):
            return f"{where}.url: must be less than 3001 characters"
    return None


# -- Discord ----------------------------------------------------------------------------------


def _discord_error(path: list[str], code: str, message: str) -> dict[str, Any]:
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        tree = {key: tree}
    return tree


def _too_long(limit: int) -> tuple[str, str]:
    return "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."


class Discord(Platform):
    name = "discord"
    rates = (Rate(5, 2.0),)  # the per-webhook bucket Discord's headers report (unverified)
    _ids = itertools.count(1_200_000_000_000_000_000)

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return Answer.json(
                400,
                {"code": 50109, "message": "The request body contains invalid JSON."},
                "50109: The request body contains invalid JSON.",
            )
        content = payload.get("content")
        embeds = payload.get("embeds")
        if not (isinstance(content, str) and content.strip()) and not embeds:
            return Answer.json(
                400,
                {"code": 50006, "message": "Cannot send an empty message"},
                "50006: Cannot send an empty message",
            )
        problem = _discord_problem(content, embeds)
        if problem is None:
            return None
        path, (code, message) = problem
        where = ".".join(path)
        return Answer.json(
            400,
            {
                "code": 50035,
                "errors": _discord_error(path, code, message),
                "message": "Invalid Form Body",
            },
            f"50035 Invalid Form Body: {where}: {message}",
        )

    def accepted(self, incoming: Incoming) -> Answer:
        if incoming.query.get("wait", "").lower() != "true":
            return Answer(204)
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        webhook_id = incoming.hook.split("/")[0]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(incoming.received_at))
        return Answer.json(
            200,
            {
                "id": str(next(self._ids)),
                "type": 0,
                "content": payload.get("content", ""),
                "channel_id": "1100000000000000000",
                "author": {"bot": True, "id": webhook_id, "username": "erralert inbox"},
                "embeds": payload.get("embeds", []),
                "mentions": [],
                "timestamp": stamp,
                "webhook_id": webhook_id,
            },
        )

    def throttled(self, wait: float) -> Answer:
        return Answer.json(
            429,
            {
                "message": "You are being rate limited.",
                "retry_after": round(wait, 3),
                "global": False,
            },
            "429: You are being rate limited.",
            _retry_header(wait),
        )


def _discord_problem(content: Any, embeds: Any) -> tuple[list[str], tuple[str, str]] | None:
    """The first field Discord would refuse, with its error code and message."""
    if isinstance(content, str) and len(content) > 2000:
        return ["content"], _too_long(2000)
    if embeds is None:
        return None
    if not isinstance(embeds, list):
        return ["embeds"], ("MODEL_TYPE_CONVERT", "Only iterables may be used in a ListType")
    if len(embeds) > 10:
        return ["embeds"], _too_long(10)
    total = 0
    for i, embed in enumerate(embeds):
        at = ["embeds", str(i)]
        if not isinstance(embed, dict):
            return at, ("MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        for key, limit in (("title", 256), ("description", 4096)):
            value = embed.get(key)
            if isinstance(value, str):
                if len(value) > limit:
                    return [*at, key], _too_long(limit)
                total += len(value)
        fields = embed.get("fields") or []
        if not isinstance(fields, list) or len(fields) > 25:
            return [*at, "fields"], _too_long(25)
        for j, item in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                value = item.get(key) if isinstance(item, dict) else None
                if not isinstance(value, str) or not value:
                    return [*at, "fields", str(j), key], (
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
                if len(value) > limit:
                    return [*at, "fields", str(j), key], _too_long(limit)
                total += len(value)
        for key, inner, limit in (("footer", "text", 2048), ("author", "name", 256)):
            part = embed.get(key)
            value = part.get(inner) if isinstance(part, dict) else None
            if isinstance(value, str):
                if len(value) > limit:
                    return [*at, key, inner], _too_long(limit)
                total += len(value)
    if total > 6000:
        return ["embeds"], (
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        )
    return None


# -- Microsoft Teams (Workflows) --------------------------------------------------------------

_ADAPTIVE = "application/vnd.microsoft.card.adaptive"


class Teams(Platform):
    name = "teams"
    # "approximately 28 KB"; held to the smaller reading
    body_limit: ClassVar[int] = 28_000

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > self.body_limit:
            message = (
                f"The request is {len(incoming.body)} bytes; Teams takes messages up to about "
                "28 KB."
            )
            # Power Automate's error envelope; the code name is (unverified)
            return Answer.json(
                413,
                {"error": {"code": "RequestEntityTooLarge", "message": message}},
                f"413 RequestEntityTooLarge: {message}",
            )
        payload = incoming.payload
        if not isinstance(payload, dict):
            message = "The request content is not valid and could not be deserialized."
            return Answer.json(
                400,
                {"error": {"code": "InvalidRequestContent", "message": message}},
                f"400 InvalidRequestContent: {message}",
            )
        problem = _teams_problem(payload)
        if problem is None:
            return None
        message = (
            "The input body for trigger 'manual' of type 'Request' did not match its schema "
            f"definition: {problem}"
        )
        return Answer.json(
            400,
            {"error": {"code": "TriggerInputSchemaMismatch", "message": message}},
            f"400 TriggerInputSchemaMismatch: {problem}",
        )

    def accepted(self, incoming: Incoming) -> Answer:
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        problem = _teams_card_problem(payload)
        if problem is not None:
            # the trigger takes the request; the flow's "post card" step fails later, and
            # nobody tells the sender (the flow runs after the 202)
            return Answer(202, error=f"accepted, but the flow cannot post the card: {problem}")
        return Answer(202)


def _teams_card_problem(payload: dict[str, Any]) -> str | None:
    """What in the cards Teams cannot show: a RichTextBlock whose ``inlines`` are not
    TextRuns (or strings) with text, an ``Action.OpenUrl`` without an absolute URL
    (Adaptive Cards schema: ``RichTextBlock.inlines``, ``TextRun.text``,
    ``Action.OpenUrl.url`` are required)."""
    for i, attachment in enumerate(_teams_list(payload.get("attachments"))):
        card = attachment.get("content")
        card = card if isinstance(card, dict) else {}
        for j, element in enumerate(_teams_list(card.get("body"))):
            at = f"attachments[{i}].content.body[{j}]"
            if element.get("type") == "RichTextBlock":
                inlines = element.get("inlines")
                if not isinstance(inlines, list):
                    return f"{at}: a RichTextBlock needs inlines"
                for k, run in enumerate(inlines):
                    if isinstance(run, str):
                        continue
                    if not isinstance(run, dict) or run.get("type") != "TextRun":
                        return f"{at}.inlines[{k}]: not a TextRun"
                    if not isinstance(run.get("text"), str) or not run["text"]:
                        return f"{at}.inlines[{k}]: a TextRun needs text"
        for j, action in enumerate(_teams_list(card.get("actions"))):
            at = f"attachments[{i}].content.actions[{j}]"
            if action.get("type") == "Action.OpenUrl" and not _absolute_url(action.get("url")):
                return f"{at}: Action.OpenUrl needs an absolute url"
    return None


def _teams_list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _absolute_url(value: Any) -> bool:
    return isinstance(value, str) and bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s]+$", value))


def _teams_problem(payload: dict[str, Any]) -> str | None:
    if payload.get("type") != "message":
        return "'type' must be 'message'"
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "'attachments' must be a non-empty list"
    for i, attachment in enumerate(attachments):
        if not isinstance(attachment, dict) or attachment.get("contentType") != _ADAPTIVE:
            return f"attachments[{i}].contentType must be '{_ADAPTIVE}'"
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            return f"attachments[{i}].content must be an AdaptiveCard"
        if not isinstance(content.get("body", []), list):
            return f"attachments[{i}].content.body must be a list"
    return None


# -- Google Chat ------------------------------------------------------------------------------


def _google_error(status: int, code: str, message: str) -> Answer:
    return Answer.json(
        status,
        {"error": {"code": status, "message": message, "status": code}},
        f"{status} {code}: {message}",
    )


class GoogleChat(Platform):
    name = "googlechat"
    rates = (Rate(60, 60.0),)  # per space, shared by every app in it
    _ids = itertools.count(1)

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > 32_000:
            return _google_error(
                400,
                "INVALID_ARGUMENT",
                f"Message is {len(incoming.body)} bytes; the limit is 32000 bytes.",
            )
        payload = incoming.payload
        if not isinstance(payload, dict):
            return _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        text = payload.get("text")
        cards = payload.get("cardsV2") or payload.get("cards")
        if not (isinstance(text, str) and text.strip()) and not cards:
            return _google_error(
                400,
                "INVALID_ARGUMENT",
                "Message cannot be empty. Discarded message must have text or cards.",
            )
        if cards is not None and not isinstance(cards, list):
            return _google_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.cards_v2'")
        problem = _chat_buttons_problem(payload.get("cardsV2"))
        if problem is not None:
            return _google_error(400, "INVALID_ARGUMENT", problem)
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        space = f"spaces/{incoming.hook}"
        ident = f"inbox{next(self._ids)}"
        thread = payload.get("thread")
        key = thread.get("threadKey") if isinstance(thread, dict) else None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(incoming.received_at))
        message: dict[str, Any] = {
            "name": f"{space}/messages/{ident}",
            "sender": {"name": "users/inbox", "type": "BOT", "displayName": "erralert inbox"},
            "createTime": stamp,
            "space": {"name": space, "type": "ROOM"},
            "thread": {"name": f"{space}/threads/{key or ident}"},
        }
        for part in ("text", "cardsV2", "fallbackText"):
            if part in payload:
                message[part] = payload[part]
        return Answer.json(200, message)

    def throttled(self, wait: float) -> Answer:
        # Google promises no Retry-After: clients back off on their own
        return _google_error(
            429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
        )


def _chat_buttons_problem(cards: Any) -> str | None:
    """A ``buttonList`` Chat refuses: a button without text or icon, an ``openLink``
    without an http(s) URL (Cards v2 reference: ``Button``, ``OpenLink``); the wording of
    the answer is (unverified)."""
    for i, item in enumerate(cards if isinstance(cards, list) else []):
        card = item.get("card") if isinstance(item, dict) else None
        sections = card.get("sections") if isinstance(card, dict) else None
        for j, section in enumerate(sections if isinstance(sections, list) else []):
            widgets = section.get("widgets") if isinstance(section, dict) else None
            for k, widget in enumerate(widgets if isinstance(widgets, list) else []):
                listed = widget.get("buttonList") if isinstance(widget, dict) else None
                if listed is None:
                    continue
                at = f"message.cards_v2[{i}].card.sections[{j}].widgets[{k}].button_list"
                buttons = listed.get("buttons") if isinstance(listed, dict) else None
                if not isinstance(buttons, list):
                    return f"Invalid value at '{at}.buttons'"
                for n, button in enumerate(buttons):
                    where = f"{at}.buttons[{n}]"
                    if not isinstance(button, dict) or not (
                        button.get("text") or button.get("icon")
                    ):
                        return f"Invalid value at '{where}': a button needs text or an icon"
                    click = button.get("onClick")
                    opened = click.get("openLink") if isinstance(click, dict) else None
                    if opened is None:
                        continue
                    url = opened.get("url") if isinstance(opened, dict) else None
                    if not isinstance(url, str) or not re.match(r"https?://[^\s]+$", url):
                        return f"Invalid value at '{where}.on_click.open_link.url' ({url!r})"
    return None


# -- Mattermost and Rocket.Chat ---------------------------------------------------------------


def _mattermost_error(where: str, message: str) -> Answer:
    return Answer.json(
        400,
        {
            "id": f"web.incoming_webhook.{where}.app_error",
            "message": message,
            "detailed_error": "",
            "request_id": "",
            "status_code": 400,
        },
        f"400 {message}",
    )


class Mattermost(Platform):
    name = "mattermost"

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return _mattermost_error("parse", "Unable to parse incoming data.")
        text = payload.get("text")
        if not (isinstance(text, str) and text.strip()) and not payload.get("attachments"):
            return _mattermost_error("text", "No text specified.")
        return None


class RocketChat(Platform):
    name = "rocketchat"

    def check(self, incoming: Incoming) -> Answer | None:
        if not isinstance(incoming.payload, dict):
            words = "Invalid JSON in the request body"
            return Answer.json(400, {"success": False, "error": words}, f"400 {words}")
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return Answer.json(200, {"success": True})


# -- Telegram ---------------------------------------------------------------------------------

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
_TAGS_ANYWHERE = re.compile(r"<[^<>]*>")
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
    return _TELEGRAM_ENTITY.sub(lambda m: html.unescape(m.group(0)), _TAGS_ANYWHERE.sub("", text))


def _telegram_error(status: int, description: str, **extra: Any) -> Answer:
    headers: tuple[tuple[str, str], ...] = ()
    if "parameters" in extra:
        headers = _retry_header(float(extra["parameters"]["retry_after"]))
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
    rates = (Rate(20, 60.0),)  # per chat: "no more than 20 messages per minute" in a group
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


# -- DingTalk and WeCom (HTTP 200, errcode in the body) -------------------------------------


def _errcode(code: int, message: str) -> Answer:
    return Answer.json(
        200,
        {"errcode": code, "errmsg": message},
        None if code == 0 else f"errcode {code}: {message}",
    )


class DingTalk(Platform):
    name = "dingtalk"
    rates = (Rate(20, 60.0),)  # per robot; errcode 130101 past it
    keyword_security = True
    body_limit: ClassVar[int] = 20_000  # bytes; errcode 460101 past it

    def rate_key(self, incoming: Incoming) -> str:
        return incoming.query.get("access_token", incoming.hook)

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > self.body_limit:
            return _errcode(460101, "message too long, exceed 20000 bytes")
        payload = incoming.payload
        # 40035 is DingTalk's "missing parameter" code; its wording here is (unverified)
        if not isinstance(payload, dict):
            return _errcode(40035, "缺少参数 json")
        msgtype = payload.get("msgtype")
        if msgtype == "text":
            body = payload.get("text")
            if not isinstance(body, dict) or not str(body.get("content", "")).strip():
                return _errcode(40035, "缺少参数 text.content")
        elif msgtype == "markdown":
            body = payload.get("markdown")
            if not isinstance(body, dict) or not str(body.get("title", "")).strip():
                return _errcode(40035, "缺少参数 markdown.title")
            if not str(body.get("text", "")).strip():
                return _errcode(40035, "缺少参数 markdown.text")
        elif msgtype == "actionCard":
            return _action_card_problem(payload.get("actionCard"))
        elif msgtype not in ("link", "feedCard"):
            return _errcode(40035, "缺少参数 msgtype")
        return None

    def text_of(self, payload: Any) -> str:
        return json.dumps({k: v for k, v in payload.items() if k != "at"}, ensure_ascii=False)

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        # signed in the query string: timestamp (ms) and sign
        query = incoming.query
        words = check_dingtalk(
            secret, query.get("timestamp"), query.get("sign"), incoming.received_at
        )
        return None if words is None else _errcode(310000, words)

    def keyword_refusal(self, keywords: tuple[str, ...], incoming: Incoming) -> Answer | None:
        if _has_keyword(self.text_of(incoming.payload), keywords):
            return None
        return _errcode(310000, "keywords not in content")

    def accepted(self, incoming: Incoming) -> Answer:
        return _errcode(0, "ok")

    def throttled(self, wait: float) -> Answer:
        return _errcode(130101, "send too fast, exceed 20 times per minute")


def _action_card_problem(card: Any) -> Answer | None:
    """An actionCard without its parameters ("自定义机器人消息类型": ``title``, ``text``, and
    either ``singleTitle`` with ``singleURL`` or ``btns`` of ``title`` and ``actionURL``);
    the wording of the answer is (unverified)."""
    if not isinstance(card, dict):
        return _errcode(40035, "缺少参数 actionCard")
    for field in ("title", "text"):
        if not str(card.get(field, "")).strip():
            return _errcode(40035, f"缺少参数 actionCard.{field}")
    if card.get("singleTitle") or card.get("singleURL"):
        if not (card.get("singleTitle") and card.get("singleURL")):
            return _errcode(40035, "缺少参数 actionCard.singleURL")
        return None
    buttons = card.get("btns")
    if not isinstance(buttons, list) or not buttons:
        return _errcode(40035, "缺少参数 actionCard.btns")
    for button in buttons:
        if not isinstance(button, dict) or not button.get("title") or not button.get("actionURL"):
            return _errcode(40035, "缺少参数 actionCard.btns.title/actionURL")
    return None


class WeCom(Platform):
    name = "wecom"
    rates = (Rate(20, 60.0),)  # per robot; errcode 45009 past it

    def rate_key(self, incoming: Incoming) -> str:
        return incoming.query.get("key", incoming.hook)

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return _errcode(40058, "invalid Request Parameter: the body is not JSON")
        msgtype = payload.get("msgtype")
        limits = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
        if msgtype not in limits:
            return _errcode(40008, "invalid message type")
        body = payload.get(msgtype)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            return _errcode(44004, "empty content")
        size = len(content.encode())
        if size > limits[msgtype]:
            return _errcode(
                40058, f"{msgtype}.content exceed max length {limits[msgtype]}. ({size} bytes)"
            )
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return _errcode(0, "ok")

    def throttled(self, wait: float) -> Answer:
        return _errcode(45009, "api freq out of limit")


# -- Feishu and Lark --------------------------------------------------------------------------


def _feishu(code: int, message: str, status: int = 200) -> Answer:
    return Answer.json(
        status, {"code": code, "data": {}, "msg": message}, f"code {code}: {message}"
    )


def _feishu_action_problem(card: Any) -> str | None:
    """An ``action`` element Feishu cannot show: no ``actions`` list, a button without a
    text object, a ``url`` that is not http(s) (message card "按钮 button": ``tag``,
    ``text``, ``url``); the wording of the answer is (unverified)."""
    elements = card.get("elements") if isinstance(card, dict) else None
    for i, element in enumerate(elements if isinstance(elements, list) else []):
        if not isinstance(element, dict) or element.get("tag") != "action":
            continue
        actions = element.get("actions")
        if not isinstance(actions, list) or not actions:
            return f"card.elements[{i}].actions must be a non-empty list"
        for j, action in enumerate(actions):
            at = f"card.elements[{i}].actions[{j}]"
            if not isinstance(action, dict) or action.get("tag") != "button":
                continue
            text = action.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("content"), str):
                return f"{at}.text must be a text object"
            url = action.get("url")
            if url is not None and not (isinstance(url, str) and re.match(r"https?://\S+$", url)):
                return f"{at}.url is not a valid URL"
    return None


class Feishu(Platform):
    name = "feishu"
    rates = (Rate(5, 1.0), Rate(100, 60.0))  # per bot; code 11232 past either
    keyword_security = True
    body_limit: ClassVar[int] = 20_000  # "20 KB", held to the smaller reading

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > self.body_limit:
            return _feishu(9499, "Bad Request: the request body is over 20 KB", 400)
        payload = incoming.payload
        if not isinstance(payload, dict):
            return _feishu(9499, "Bad Request", 400)
        msg_type = payload.get("msg_type")
        content = payload.get("content")
        content = content if isinstance(content, dict) else {}
        needs = {
            "text": isinstance(content.get("text"), str) and bool(content["text"].strip()),
            "post": isinstance(content.get("post"), dict),
            "image": isinstance(content.get("image_key"), str),
            "share_chat": isinstance(content.get("share_chat_id"), str),
            "interactive": isinstance(payload.get("card"), dict),
        }
        if not needs.get(str(msg_type), False):
            return _feishu(9499, f"Bad Request: msg_type {msg_type!r} without its content", 400)
        problem = _feishu_action_problem(payload.get("card"))
        if problem is not None:
            return _feishu(9499, f"Bad Request: {problem}", 400)
        return None

    def text_of(self, payload: Any) -> str:
        return json.dumps(
            {k: v for k, v in payload.items() if k not in ("sign", "timestamp")},
            ensure_ascii=False,
        )

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        # signed in the body: timestamp (s) and sign at its top level
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        words = check_feishu(
            secret, payload.get("timestamp"), payload.get("sign"), incoming.received_at
        )
        return None if words is None else _feishu(19021, words)

    def keyword_refusal(self, keywords: tuple[str, ...], incoming: Incoming) -> Answer | None:
        if _has_keyword(self.text_of(incoming.payload), keywords):
            return None
        return _feishu(19024, "Key Words Not Found")

    def accepted(self, incoming: Incoming) -> Answer:
        # the older StatusCode/StatusMessage pair still comes along with code/msg
        return Answer.json(
            200,
            {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"},
        )

    def throttled(self, wait: float) -> Answer:
        return _feishu(11232, "frequency limited")


class Lark(Feishu):
    name = "lark"


# -- erralert's generic webhook ---------------------------------------------------------------


class Webhook(Platform):
    name = "webhook"

    def check(self, incoming: Incoming) -> Answer | None:
        if not isinstance(incoming.payload, dict):
            return Answer.json(400, {"error": "the body is not a JSON object"}, "400 not JSON")
        return None

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        # erralert's own: HMAC of the body, in headers
        headers = incoming.headers
        words = check_webhook(
            secret,
            headers.get("x-erralert-timestamp"),
            headers.get("x-erralert-signature"),
            incoming.body,
            incoming.received_at,
        )
        return None if words is None else Answer.json(401, {"error": words}, f"401 {words}")

    def accepted(self, incoming: Incoming) -> Answer:
        return Answer.json(200, {"ok": True})


PLATFORMS: dict[str, Platform] = {
    platform.name: platform
    for platform in (
        DingTalk(),
        Discord(),
        Feishu(),
        GoogleChat(),
        Lark(),
        Mattermost(),
        RocketChat(),
        Slack(),
        Teams(),
        Telegram(),
        Webhook(),
        WeCom(),
    )
}
