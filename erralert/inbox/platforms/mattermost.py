"""Mattermost's incoming webhooks: text or attachments, refusals in Mattermost's
error envelope; no rate per hook.
"""

from __future__ import annotations

from erralert.inbox.platforms.base import Answer, Incoming, Platform

__all__ = ["Mattermost"]


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
