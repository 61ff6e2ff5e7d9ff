"""Teams' view: Adaptive Cards (text blocks, rich text, facts, columns, containers, actions)
and the mentions their entities make.
"""

from __future__ import annotations

from typing import Any

from erralert.inbox.markup.markdown import FLAVOURS, markdown, markdown_inline
from erralert.inbox.markup.safe import esc
from erralert.inbox.views.parts import button_row, dict_of, list_of, str_of

__all__ = ["render"]

_TEAMS = FLAVOURS["teams"]


_TEAMS_SIZES = {"small": "s", "default": "m", "medium": "l", "large": "xl", "extralarge": "xxl"}
_TEAMS_COLOURS = {"attention", "warning", "good", "accent", "dark", "light", "default"}


def render(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    for attachment in list_of(payload.get("attachments")):
        card = dict_of(dict_of(attachment).get("content"))
        names = {
            str_of(dict_of(e).get("text")): str_of(dict_of(dict_of(e).get("mentioned")).get("name"))
            for e in list_of(dict_of(card.get("msteams")).get("entities"))
            if dict_of(e).get("type") == "mention"
        }
        body = _teams_elements(list_of(card.get("body")), names)
        actions = _teams_actions(list_of(card.get("actions")))
        parts.append(f'<div class="ac-card">{body}{actions}</div>')
    return "".join(parts)


def _teams_actions(actions: list[Any]) -> str:
    """A card's (or an ActionSet's) actions as buttons: ``Action.OpenUrl`` opens its URL;
    the others (submit, show a card) do nothing here."""
    return button_row([(str_of(dict_of(a).get("title")), _teams_url(dict_of(a))) for a in actions])


def _teams_url(action: dict[str, Any]) -> Any:
    return action.get("url") if action.get("type") == "Action.OpenUrl" else None


# Teams draws a few levels of containers; a card nested deeper is cut there, with a note,
# rather than walked one Python frame per level
_TEAMS_DEPTH = 32


def _teams_elements(elements: list[Any], mentions: dict[str, str], depth: int = 0) -> str:
    if depth >= _TEAMS_DEPTH:
        return f'<div class="note">[containers nested deeper than {_TEAMS_DEPTH} levels]</div>'
    out: list[str] = []
    for element in elements:
        element = dict_of(element)
        kind = element.get("type")
        spacing = " tight" if str(element.get("spacing", "")).lower() == "none" else ""
        if kind == "TextBlock":
            out.append(_teams_text(element, mentions, spacing))
        elif kind == "RichTextBlock":
            runs = "".join(_teams_run(run) for run in list_of(element.get("inlines")))
            out.append(f'<div class="ac-text{spacing}">{runs}</div>')
        elif kind == "ActionSet":
            out.append(_teams_actions(list_of(element.get("actions"))))
        elif kind == "FactSet":
            rows = "".join(
                f"<tr><th>{markdown_inline(str_of(dict_of(f).get('title')), _TEAMS)}</th>"
                f"<td>{markdown_inline(str_of(dict_of(f).get('value')), _TEAMS)}</td></tr>"
                for f in list_of(element.get("facts"))
            )
            out.append(f'<table class="facts">{rows}</table>')
        elif kind == "ColumnSet":
            columns = "".join(
                '<div class="ac-col">'
                f"{_teams_elements(list_of(dict_of(c).get('items')), mentions, depth + 1)}</div>"
                for c in list_of(element.get("columns"))
            )
            out.append(f'<div class="ac-cols">{columns}</div>')
        elif kind == "Container":
            out.append(
                f'<div class="ac-container">'
                f"{_teams_elements(list_of(element.get('items')), mentions, depth + 1)}</div>"
            )
        elif kind == "Image":
            out.append(f'<div class="img">[image: {esc(str_of(element.get("altText")))}]</div>')
        else:
            out.append(f'<div class="note">[{esc(kind)}]</div>')
    return "".join(out)


def _teams_run(run: Any) -> str:
    """A TextRun (or a plain string) of a RichTextBlock: its text as written, never parsed
    (no markdown, no <at> mention), in its style."""
    if isinstance(run, str):
        return esc(run)
    run = dict_of(run)
    shown = esc(str_of(run.get("text")))
    if str(run.get("fontType", "")).lower() == "monospace":
        shown = f"<code>{shown}</code>"
    if run.get("italic") is True:
        shown = f"<i>{shown}</i>"
    if str(run.get("weight", "")).lower() == "bolder":
        shown = f"<b>{shown}</b>"
    classes = _teams_style(run)
    return f'<span class="{classes}">{shown}</span>' if classes else shown


def _teams_style(element: dict[str, Any]) -> str:
    """The size and colour classes of a TextRun ("" for the defaults)."""
    size = _TEAMS_SIZES.get(str(element.get("size", "default")).lower(), "m")
    shade = str(element.get("color", "default")).lower()
    classes = [f"size-{size}"] if size != "m" else []
    if shade in _TEAMS_COLOURS and shade != "default":
        classes.append(f"color-{shade}")
    return " ".join(classes)


def _teams_text(element: dict[str, Any], mentions: dict[str, str], spacing: str) -> str:
    size = _TEAMS_SIZES.get(str(element.get("size", "default")).lower(), "m")
    weight = " bold" if str(element.get("weight", "")).lower() == "bolder" else ""
    shade = str(element.get("color", "default")).lower()
    shade = shade if shade in _TEAMS_COLOURS else "default"
    mono = " mono" if str(element.get("fontType", "")).lower() == "monospace" else ""
    # a mention fires only with <at>…</at> AND its entity: only those texts become chips,
    # found in the text as written (never in the HTML made of it)
    chips = {tag: f"@{name or tag}" for tag, name in mentions.items() if tag}
    rendered = markdown(str_of(element.get("text")), _TEAMS, chips)
    return f'<div class="ac-text size-{size} color-{shade}{weight}{mono}{spacing}">{rendered}</div>'
