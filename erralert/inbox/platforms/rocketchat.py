"""Rocket.Chat's incoming webhooks: any JSON object is taken (its integration script
decides), ``{"success": true}``; no rate per hook.
"""

from __future__ import annotations

from erralert.inbox.platforms.base import Answer, Incoming, Platform

__all__ = ["RocketChat"]


class RocketChat(Platform):
    name = "rocketchat"

    def check(self, incoming: Incoming) -> Answer | None:
        if not isinstance(incoming.payload, dict):
            words = "Invalid JSON in the request body"
            return Answer.json(400, {"success": False, "error": words}, f"400 {words}")
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return Answer.json(200, {"success": True})
