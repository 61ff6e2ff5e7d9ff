"""Feishu's (and Lark's) custom bots: ``code`` and ``msg`` in the body, 20 KB, the
message types' content, card buttons, the signature in the body, keyword security.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from erralert.inbox.platforms.base import Answer, Incoming, Platform, has_keyword
from erralert.inbox.ratelimit import RateLimit
from erralert.inbox.signatures import check_feishu

__all__ = ["Feishu", "Lark"]


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
    rates = (RateLimit(5, 1.0), RateLimit(100, 60.0))  # per bot; code 11232 past either
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
        if has_keyword(self.text_of(incoming.payload), keywords):
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
