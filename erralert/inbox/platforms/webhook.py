"""erralert's generic webhook: a JSON object, signed with an HMAC of the body in headers
when the inbox knows the secret.
"""

from __future__ import annotations

from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.signatures import check_webhook

__all__ = ["Webhook"]


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
