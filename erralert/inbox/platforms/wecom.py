"""WeCom's group robots: HTTP 200 with ``errcode`` in the body, the content's byte limit
per message type, 20 a minute.
"""

from __future__ import annotations

from erralert.inbox.platforms.base import Answer, Incoming, Platform, errcode
from erralert.inbox.ratelimit import RateLimit

__all__ = ["WeCom"]


class WeCom(Platform):
    name = "wecom"
    rates = (RateLimit(20, 60.0),)  # per robot; errcode 45009 past it

    def rate_key(self, incoming: Incoming) -> str:
        return incoming.query.get("key", incoming.hook)

    def check(self, incoming: Incoming) -> Answer | None:
        payload = incoming.payload
        if not isinstance(payload, dict):
            return errcode(40058, "invalid Request Parameter: the body is not JSON")
        msgtype = payload.get("msgtype")
        limits = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
        if msgtype not in limits:
            return errcode(40008, "invalid message type")
        body = payload.get(msgtype)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            return errcode(44004, "empty content")
        size = len(content.encode())
        if size > limits[msgtype]:
            return errcode(
                40058, f"{msgtype}.content exceed max length {limits[msgtype]}. ({size} bytes)"
            )
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return errcode(0, "ok")

    def throttled(self, wait: float) -> Answer:
        return errcode(45009, "api freq out of limit")
