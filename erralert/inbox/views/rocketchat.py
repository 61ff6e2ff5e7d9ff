"""Rocket.Chat's view: a Mattermost-shaped post in Rocket.Chat's markdown, with the
attachments' action buttons.
"""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.markdown import FLAVOURS
from erralert.inbox.views.mattermost import post
from erralert.inbox.views.parts import button_row, dict_of, list_of, str_of

__all__ = ["render"]


def _rocketchat_actions(attachment: dict[str, Any]) -> str:
    """An attachment's ``actions`` as Rocket.Chat's web client still draws them: a button
    each (one with a ``url`` opens it), in a row when ``button_alignment`` is
    "horizontal"."""
    buttons = [
        (str_of(dict_of(a).get("text")), dict_of(a).get("url"))
        for a in list_of(attachment.get("actions"))
        if dict_of(a).get("type") == "button"
    ]
    return button_row(buttons, vertical=attachment.get("button_alignment") != "horizontal")


def render(payload: dict[str, Any]) -> str:
    return post(payload, FLAVOURS["rocketchat"], _rocketchat_actions)
