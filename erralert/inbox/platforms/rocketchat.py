"""Rocket.Chat's incoming webhooks: any JSON object is taken (its integration script
decides), ``{"success": true}``; no rate per hook. Its view: a Mattermost-shaped post in
Rocket.Chat's markdown, with the attachments' action buttons.
"""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.markdown import ANY_MENTION, Flavour
from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.platforms.mattermost import bold_line, post
from erralert.inbox.platforms.parts import button_row, dict_of, list_of, str_of

__all__ = ["RocketChat"]

# the message parser escapes * _ ~ ` # . only; single backticks; no HTML or entities
_ROCKETCHAT = Flavour(
    escapes=frozenset("*_~`#."), code="single", star_bold=True, mention_words=ANY_MENTION
)


class RocketChat(Platform):
    name = "rocketchat"
    label = "Rocket.Chat"
    rank = 60
    paths = (r"/hooks/(?P<hook>[^/]+/[^/]+)/?",)  # /hooks/{id}/{token}
    example = "/hooks/id/token"
    flavour = _ROCKETCHAT

    def check(self, incoming: Incoming) -> Answer | None:
        if not isinstance(incoming.payload, dict):
            words = "Invalid JSON in the request body"
            return Answer.json(400, {"success": False, "error": words}, f"400 {words}")
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return Answer.json(200, {"success": True})

    def title(self, payload: dict[str, Any]) -> str:
        return bold_line(payload)

    def view(self, payload: dict[str, Any]) -> str:
        return post(payload, _ROCKETCHAT, _rocketchat_actions)


# -- the view --------------------------------------------------------------------------------


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
