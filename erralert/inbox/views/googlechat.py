"""Google Chat's view: the text in mrkdwn, Cards v2 in Chat's card HTML subset."""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.mrkdwn import mrkdwn
from erralert.inbox.markup.safe import colour, esc
from erralert.inbox.markup.tags import html_subset
from erralert.inbox.views.parts import button_row, dict_of, link_opener, list_of, str_of

__all__ = ["chat_html", "render"]


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
