"""Discord's webhooks: the message and embed limits, ``Invalid Form Body`` (50035) with
the tree of refused fields, the message itself with ``?wait=true``; its view: content and
embeds in Discord's markdown, and who would be pinged.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from erralert.inbox.markup.markdown import ASCII_PUNCTUATION, Flavour, markdown, markdown_inline
from erralert.inbox.markup.safe import esc, link
from erralert.inbox.platforms.base import Answer, Incoming, Platform, retry_header
from erralert.inbox.platforms.parts import bar, dict_of, list_of, pings, str_of, unbackslash, when
from erralert.inbox.ratelimit import RateLimit

__all__ = ["Discord"]


def _discord_error(path: list[str], code: str, message: str) -> dict[str, Any]:
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        tree = {key: tree}
    return tree


def _too_long(limit: int) -> tuple[str, str]:
    return "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."


# a backslash before any punctuation; <@id> pills; @everyone/@here; https:// links only
_DISCORD = Flavour(
    escapes=ASCII_PUNCTUATION,
    mention_words=re.compile(r"(?<![\w@])@(?P<who>everyone|here)\b"),
    tag_mentions=True,
    spoilers=True,
    www=False,
    loose_underscores=True,
)


class Discord(Platform):
    name = "discord"
    label = "Discord"
    rank = 20
    paths = (
        r"/api(?:/v\d+)?/webhooks/(?P<hook>[^/]+/[^/]+)/?",
    )  # /api[/v10]/webhooks/{id}/{token}
    example = "/api/webhooks/1/token"
    flavour = _DISCORD
    rates = (RateLimit(5, 2.0),)  # the per-webhook bucket Discord's headers report (unverified)
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
            retry_header(wait),
        )

    def title(self, payload: dict[str, Any]) -> str:
        # the first embed's title, else the content
        for embed in payload.get("embeds") or []:
            title = str_of(embed.get("title"))
            if title:
                return unbackslash(title)
        return unbackslash(str_of(payload.get("content")))

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)


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


# -- the view --------------------------------------------------------------------------------


def render(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    content = str_of(payload.get("content"))
    if content:
        parts.append(f'<div class="md">{markdown(content, _DISCORD)}</div>')
    for embed in list_of(payload.get("embeds")):
        embed = dict_of(embed)
        inner = ""
        author = str_of(dict_of(embed.get("author")).get("name"))
        if author:
            inner += f'<div class="context">{esc(author)}</div>'
        if str_of(embed.get("title")):
            title = markdown_inline(embed["title"], _DISCORD)
            inner += f'<div class="em-title">{link(embed.get("url"), title)}</div>'
        if str_of(embed.get("description")):
            inner += f'<div class="md">{markdown(embed["description"], _DISCORD)}</div>'
        cells = []
        for item in list_of(embed.get("fields")):
            item = dict_of(item)
            wide = "" if item.get("inline") else ' class="wide"'
            cells.append(
                f"<div{wide}><b>{markdown_inline(str_of(item.get('name')), _DISCORD)}</b>"
                f'<div class="md">{markdown(str_of(item.get("value")), _DISCORD)}</div></div>'
            )
        if cells:
            inner += f'<div class="fields three">{"".join(cells)}</div>'
        footer = str_of(dict_of(embed.get("footer")).get("text"))
        if footer or embed.get("timestamp"):
            inner += f'<div class="context">{esc(footer)} {when(embed.get("timestamp"))}</div>'
        parts.append(bar(embed.get("color"), inner))
    parts.append(_discord_pings(payload))
    return "".join(parts)


def _discord_pings(payload: dict[str, Any]) -> str:
    """Who Discord would notify: the mentions in ``content`` that ``allowed_mentions``
    lets through (without it, every mention pings)."""
    content = str_of(payload.get("content"))
    users = re.findall(r"<@!?(\d+)>", content)
    roles = re.findall(r"<@&(\d+)>", content)
    everyone = re.findall(r"@(everyone|here)\b", content)
    if not (users or roles or everyone):
        return ""
    allowed = payload.get("allowed_mentions")
    if not isinstance(allowed, dict):
        who = [f"@{u}" for u in users] + [f"@&{r}" for r in roles] + [f"@{e}" for e in everyone]
        return pings(who)
    parse = set(list_of(allowed.get("parse")))
    allowed_users = {str(u) for u in list_of(allowed.get("users"))}
    allowed_roles = {str(r) for r in list_of(allowed.get("roles"))}
    who = [f"@{u}" for u in users if "users" in parse or u in allowed_users]
    who += [f"@&{r}" for r in roles if "roles" in parse or r in allowed_roles]
    who += [f"@{e}" for e in everyone if "everyone" in parse]
    return pings(who, "" if who else "nobody (allowed_mentions)")
