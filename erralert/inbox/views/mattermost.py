"""Mattermost's view: the post's text and attachments in its markdown (Rocket.Chat's
posts have the same shape, in its own flavour).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from erralert.inbox.markup.markdown import FLAVOURS, Flavour, markdown
from erralert.inbox.markup.safe import esc, link
from erralert.inbox.views.parts import bar, dict_of, legacy_fields, list_of, str_of

__all__ = ["post", "render"]


def render(payload: dict[str, Any]) -> str:
    return post(payload, FLAVOURS["mattermost"])


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
