"""Slack's view: Block Kit blocks (actions as link buttons) and legacy attachments."""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.markdown import markdown
from erralert.inbox.markup.mrkdwn import mrkdwn
from erralert.inbox.markup.safe import esc, link
from erralert.inbox.views.parts import bar, button_row, dict_of, legacy_fields, list_of, str_of

__all__ = ["render"]


def render(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    blocks = list_of(payload.get("blocks"))
    if blocks:
        parts.append(_slack_blocks(blocks))
    elif str_of(payload.get("text")):
        parts.append(f'<div class="mrkdwn">{mrkdwn(payload["text"])}</div>')
    for attachment in list_of(payload.get("attachments")):
        attachment = dict_of(attachment)
        inner = _slack_legacy(attachment)
        inner += _slack_blocks(list_of(attachment.get("blocks")))
        parts.append(bar(attachment.get("color"), inner))
    return "".join(parts)


def _slack_text(obj: Any) -> str:
    obj = dict_of(obj)
    text = str_of(obj.get("text"))
    if obj.get("type") == "plain_text":
        return esc(text)
    return f'<span class="mrkdwn">{mrkdwn(text)}</span>'


def _slack_blocks(blocks: list[Any]) -> str:
    out: list[str] = []
    for block in blocks:
        block = dict_of(block)
        kind = block.get("type")
        if kind == "header":
            words = str_of(dict_of(block.get("text")).get("text"))
            out.append(f'<div class="sl-header">{esc(words)}</div>')
        elif kind == "section":
            section = ""
            if block.get("text"):
                section += f"<div>{_slack_text(block['text'])}</div>"
            fields = list_of(block.get("fields"))
            if fields:
                cells = "".join(f"<div>{_slack_text(f)}</div>" for f in fields)
                section += f'<div class="fields">{cells}</div>'
            out.append(f'<div class="sl-section">{section}</div>')
        elif kind == "context":
            items = []
            for element in list_of(block.get("elements")):
                element = dict_of(element)
                if element.get("type") == "image":
                    items.append(
                        f'<span class="img">[{esc(str_of(element.get("alt_text")))}]</span>'
                    )
                else:
                    items.append(_slack_text(element))
            out.append(f'<div class="context">{" ".join(items)}</div>')
        elif kind == "divider":
            out.append("<hr>")
        elif kind == "markdown":
            out.append(f'<div class="md">{markdown(str_of(block.get("text")))}</div>')
        elif kind == "image":
            out.append(f'<div class="img">[image: {esc(str_of(block.get("alt_text")))}]</div>')
        elif kind == "actions":
            out.append(_slack_actions(list_of(block.get("elements"))))
        else:
            out.append(f'<div class="note">[{esc(kind)} block]</div>')
    return "".join(out)


def _slack_actions(elements: list[Any]) -> str:
    """An actions block: its buttons (a link button opens its ``url``); other elements
    (menus, date pickers) by their type."""
    buttons: list[tuple[str, Any]] = []
    others: list[str] = []
    for element in elements:
        element = dict_of(element)
        if element.get("type") == "button":
            buttons.append((str_of(dict_of(element.get("text")).get("text")), element.get("url")))
        else:
            others.append(f'<div class="note">[{esc(element.get("type"))}]</div>')
    return button_row(buttons) + "".join(others)


def _slack_legacy(attachment: dict[str, Any]) -> str:
    """A legacy attachment's pretext, title, text and fields (also Mattermost's and
    Rocket.Chat's, which copied them)."""
    out: list[str] = []
    if str_of(attachment.get("pretext")):
        out.append(f'<div class="mrkdwn">{mrkdwn(attachment["pretext"])}</div>')
    if str_of(attachment.get("title")):
        title = esc(attachment["title"])
        out.append(f'<div class="att-title">{link(attachment.get("title_link"), title)}</div>')
    if str_of(attachment.get("text")):
        out.append(f'<div class="mrkdwn">{mrkdwn(attachment["text"])}</div>')
    out.append(legacy_fields(attachment, mrkdwn))
    if str_of(attachment.get("footer")):
        out.append(f'<div class="context">{esc(attachment["footer"])}</div>')
    return "".join(out)
