"""Google Chat's incoming webhooks: the size of a message, text or cards, Cards v2
buttons, and the created message in Chat's shape; its view: the text in mrkdwn, Cards v2
in Chat's card HTML subset.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from erralert.inbox.markup.mrkdwn import mrkdwn
from erralert.inbox.markup.safe import colour, esc
from erralert.inbox.markup.tags import html_subset
from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.platforms.parts import button_row, dict_of, link_opener, list_of, str_of
from erralert.inbox.ratelimit import RateLimit

__all__ = ["GoogleChat", "chat_html"]


def _google_error(status: int, code: str, message: str) -> Answer:
    return Answer.json(
        status,
        {"error": {"code": status, "message": message, "status": code}},
        f"{status} {code}: {message}",
    )


class GoogleChat(Platform):
    name = "googlechat"
    label = "Google Chat"
    rank = 40
    paths = (r"/v1/spaces/(?P<hook>[^/]+)/messages/?",)  # /v1/spaces/{space}/messages
    example = "/v1/spaces/SPACE/messages"
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

    def title(self, payload: dict[str, Any]) -> str:
        # the first card's header, else the fallback text, the text
        for card in payload.get("cardsV2") or []:
            title = str_of(card["card"].get("header", {}).get("title"))
            if title:
                return title
        return str_of(payload.get("fallbackText")) or str_of(payload.get("text"))

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)

    def markup(self, text: str) -> str:
        return chat_html(text)


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


# -- the view --------------------------------------------------------------------------------


def _chat_font(attrs: dict[str, str]) -> tuple[str, str]:
    shade = colour(attrs.get("color"))
    return (f'<span style="color:{shade}">' if shade else "<span>"), "span"


_CHAT_HTML: dict[str, tuple[str, Any]] = {
    "b": ("b", None),
    "i": ("i", None),
    "u": ("u", None),
    "s": ("s", None),
    "strike": ("s", None),
    "br": ("br", None),
    "a": ("a", link_opener),
    "font": ("span", _chat_font),
}


def chat_html(text: str) -> str:
    return html_subset(text, _CHAT_HTML, void=frozenset({"br"}))


def render(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    if str_of(payload.get("text")):
        parts.append(f'<div class="mrkdwn">{mrkdwn(payload["text"])}</div>')
    for item in list_of(payload.get("cardsV2")):
        card = dict_of(dict_of(item).get("card"))
        header = dict_of(card.get("header"))
        inner = ""
        if header:
            title, subtitle = str_of(header.get("title")), str_of(header.get("subtitle"))
            inner += (
                f'<div class="gc-header"><div class="gc-title">{esc(title)}</div>'
                f'<div class="gc-subtitle">{esc(subtitle)}</div></div>'
            )
        for section in list_of(card.get("sections")):
            section = dict_of(section)
            body = ""
            if str_of(section.get("header")):
                body += f'<div class="gc-section-title">{chat_html(section["header"])}</div>'
            for widget in list_of(section.get("widgets")):
                body += _chat_widget(dict_of(widget))
            inner += f'<div class="gc-section">{body}</div>'
        parts.append(f'<div class="gc-card">{inner}</div>')
    thread = str_of(dict_of(payload.get("thread")).get("threadKey"))
    if thread:
        parts.append(f'<div class="context">thread {esc(thread)}</div>')
    return "".join(parts)


def _chat_widget(widget: dict[str, Any]) -> str:
    if "textParagraph" in widget:
        text = str_of(dict_of(widget["textParagraph"]).get("text"))
        return f'<div class="gc-text">{chat_html(text)}</div>'
    if "decoratedText" in widget:
        item = dict_of(widget["decoratedText"])
        return (
            '<div class="gc-deco">'
            f'<div class="context">{chat_html(str_of(item.get("topLabel")))}</div>'
            f"<div>{chat_html(str_of(item.get('text')))}</div>"
            f'<div class="context">{chat_html(str_of(item.get("bottomLabel")))}</div></div>'
        )
    if "divider" in widget:
        return "<hr>"
    if "buttonList" in widget:
        buttons: list[tuple[str, Any]] = []
        for button in list_of(dict_of(widget["buttonList"]).get("buttons")):
            button = dict_of(button)
            url = dict_of(dict_of(dict_of(button.get("onClick")).get("openLink"))).get("url")
            buttons.append((str_of(button.get("text")), url))
        return button_row(buttons)
    return f'<div class="note">[{esc(", ".join(widget))}]</div>'
