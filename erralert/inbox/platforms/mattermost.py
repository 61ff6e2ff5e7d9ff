"""Mattermost's incoming webhooks: text or attachments, refusals in Mattermost's
error envelope; no rate per hook. Its view: the post's text and attachments in its
markdown (Rocket.Chat's posts have the same shape, in its own flavour, and the same
notification title).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from erralert.inbox.markup.markdown import ANY_MENTION, Flavour, markdown
from erralert.inbox.markup.safe import esc, link
from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.platforms.parts import bar, dict_of, legacy_fields, list_of, str_of

__all__ = ["Mattermost", "bold_line", "post"]

# marked's backslash escapes; entities reach the browser; GFM autolinks; @words notify
_MATTERMOST = Flavour(
    escapes=frozenset("\\`*{}[]()#+-.!_>~|"), entities=True, mention_words=ANY_MENTION
)


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
    label = "Mattermost"
    rank = 50
    paths = (r"/hooks/(?P<hook>[^/]+)/?",)  # /hooks/{key}
    example = "/hooks/key"
    flavour = _MATTERMOST

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return _mattermost_error("parse", "Unable to parse incoming data.")
        text = payload.get("text")
        if not (isinstance(text, str) and text.strip()) and not payload.get("attachments"):
            return _mattermost_error("text", "No text specified.")
        return None

    def title(self, payload: dict[str, Any]) -> str:
        return bold_line(payload)

    def view(self, payload: dict[str, Any]) -> str:
        return post(payload, _MATTERMOST)


# -- the view --------------------------------------------------------------------------------


def post(
    payload: dict[str, Any],
    flavour: Flavour,
    actions: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """Mattermost's post (and Rocket.Chat's, which has the same shape) in ``flavour``;
    ``actions``: what an attachment shows after its fields (Rocket.Chat's buttons)."""

    def md(text: str) -> str:
        return markdown(text, flavour)

    parts: list[str] = []
    if str_of(payload.get("text")):
        parts.append(f'<div class="md">{md(payload["text"])}</div>')
    for attachment in list_of(payload.get("attachments")):
        attachment = dict_of(attachment)
        inner = ""
        if str_of(attachment.get("pretext")):
            inner += f'<div class="md">{md(attachment["pretext"])}</div>'
        if str_of(attachment.get("title")):
            title = esc(attachment["title"])
            inner += f'<div class="att-title">{link(attachment.get("title_link"), title)}</div>'
        if str_of(attachment.get("text")):
            inner += f'<div class="md">{md(attachment["text"])}</div>'
        inner += legacy_fields(attachment, md)
        if actions is not None:
            inner += actions(attachment)
        parts.append(bar(attachment.get("color"), inner))
    return "".join(parts)


# -- the notification title ------------------------------------------------------------------


def bold_line(payload: dict[str, Any]) -> str:
    """Mattermost and Rocket.Chat: the post's text (erralert puts the title there in bold),
    else the first attachment's title or fallback."""
    text = str_of(payload.get("text")).strip()
    first = text.splitlines()[0] if text else ""
    first = first.strip("*").strip()
    if first:
        return first
    for attachment in payload.get("attachments") or []:
        found = str_of(attachment.get("title")) or str_of(attachment.get("fallback"))
        if found:
            return found
    return ""
