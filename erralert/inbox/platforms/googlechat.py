"""Google Chat's incoming webhooks: the size of a message, text or cards, Cards v2
buttons, and the created message in Chat's shape.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.ratelimit import RateLimit

__all__ = ["GoogleChat"]


def _google_error(status: int, code: str, message: str) -> Answer:
    return Answer.json(
        status,
        {"error": {"code": status, "message": message, "status": code}},
        f"{status} {code}: {message}",
    )


class GoogleChat(Platform):
    name = "googlechat"
    rates = (RateLimit(60, 60.0),)  # per space, shared by every app in it
    _ids = itertools.count(1)

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > 32_000:
            return _google_error(
                400,
                "INVALID_ARGUMENT",
                f"Message is {len(incoming.body)} bytes; the limit is 32000 bytes.",
            )
        payload = incoming.payload
        if not isinstance(payload, dict):
            return _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        text = payload.get("text")
        cards = payload.get("cardsV2") or payload.get("cards")
        if not (isinstance(text, str) and text.strip()) and not cards:
            return _google_error(
                400,
                "INVALID_ARGUMENT",
                "Message cannot be empty. Discarded message must have text or cards.",
            )
        if cards is not None and not isinstance(cards, list):
            return _google_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.cards_v2'")
        problem = _chat_buttons_problem(payload.get("cardsV2"))
        if problem is not None:
            return _google_error(400, "INVALID_ARGUMENT", problem)
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        space = f"spaces/{incoming.hook}"
        ident = f"inbox{next(self._ids)}"
        thread = payload.get("thread")
        key = thread.get("threadKey") if isinstance(thread, dict) else None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(incoming.received_at))
        message: dict[str, Any] = {
            "name": f"{space}/messages/{ident}",
            "sender": {"name": "users/inbox", "type": "BOT", "displayName": "erralert inbox"},
            "createTime": stamp,
            "space": {"name": space, "type": "ROOM"},
            "thread": {"name": f"{space}/threads/{key or ident}"},
        }
        for part in ("text", "cardsV2", "fallbackText"):
            if part in payload:
                message[part] = payload[part]
        return Answer.json(200, message)

    def throttled(self, wait: float) -> Answer:
        # Google promises no Retry-After: clients back off on their own
        return _google_error(
            429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
        )


def _chat_buttons_problem(cards: Any) -> str | None:
    """A ``buttonList`` Chat refuses: a button without text or icon, an ``openLink``
    without an http(s) URL (Cards v2 reference: ``Button``, ``OpenLink``); the wording of
    the answer is (unverified)."""
    for i, item in enumerate(cards if isinstance(cards, list) else []):
        card = item.get("card") if isinstance(item, dict) else None
        sections = card.get("sections") if isinstance(card, dict) else None
        for j, section in enumerate(sections if isinstance(sections, list) else []):
            widgets = section.get("widgets") if isinstance(section, dict) else None
            for k, widget in enumerate(widgets if isinstance(widgets, list) else []):
                listed = widget.get("buttonList") if isinstance(widget, dict) else None
                if listed is None:
                    continue
                at = f"message.cards_v2[{i}].card.sections[{j}].widgets[{k}].button_list"
                buttons = listed.get("buttons") if isinstance(listed, dict) else None
                if not isinstance(buttons, list):
                    return f"Invalid value at '{at}.buttons'"
                for n, button in enumerate(buttons):
                    where = f"{at}.buttons[{n}]"
                    if not isinstance(button, dict) or not (
                        button.get("text") or button.get("icon")
                    ):
                        return f"Invalid value at '{where}': a button needs text or an icon"
                    click = button.get("onClick")
                    opened = click.get("openLink") if isinstance(click, dict) else None
                    if opened is None:
                        continue
                    url = opened.get("url") if isinstance(opened, dict) else None
                    if not isinstance(url, str) or not re.match(r"https?://[^\s]+$", url):
                        return f"Invalid value at '{where}.on_click.open_link.url' ({url!r})"
    return None
