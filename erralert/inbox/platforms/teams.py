"""Microsoft Teams through a Workflows (Power Automate) trigger: the request's size and
schema, and the cards the flow's "post card" step cannot show after its 202; its view:
Adaptive Cards (text blocks, rich text, facts, columns, containers, actions) and the
mentions their entities make.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from erralert.inbox.markup.markdown import Flavour, markdown, markdown_inline
from erralert.inbox.markup.safe import esc
from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.platforms.parts import button_row, dict_of, list_of, str_of, unbackslash

__all__ = ["Teams"]

_ADAPTIVE = "application/vnd.microsoft.card.adaptive"
# TextBlock markdown (erralert sends only its mention line so; a RichTextBlock's
# TextRuns are never parsed): no code spans
_TEAMS = Flavour(entities=True, code="none")


class Teams(Platform):
    name = "teams"
    label = "Teams"
    rank = 30
    # a Workflows trigger's URL: /workflows/…, or /powerautomate/… (an older form)
    paths = (r"/(?P<hook>workflows/.+)", r"/(?P<hook>powerautomate/.+)")
    example = "/workflows/w/triggers/manual/paths/invoke"
    flavour = _TEAMS
    # "approximately 28 KB"; held to the smaller reading
    body_limit: ClassVar[int] = 28_000

    def check(self, incoming: Incoming) -> Answer | None:
        if len(incoming.body) > self.body_limit:
            message = (
                f"The request is {len(incoming.body)} bytes; Teams takes messages up to about "
                "28 KB."
            )
            # Power Automate's error envelope; the code name is (unverified)
            return Answer.json(
                413,
                {"error": {"code": "RequestEntityTooLarge", "message": message}},
                f"413 RequestEntityTooLarge: {message}",
            )
        payload = incoming.payload
        if not isinstance(payload, dict):
            message = "The request content is not valid and could not be deserialized."
            return Answer.json(
                400,
                {"error": {"code": "InvalidRequestContent", "message": message}},
                f"400 InvalidRequestContent: {message}",
            )
        problem = _teams_problem(payload)
        if problem is None:
            return None
        message = (
            "The input body for trigger 'manual' of type 'Request' did not match its schema "
            f"definition: {problem}"
        )
        return Answer.json(
            400,
            {"error": {"code": "TriggerInputSchemaMismatch", "message": message}},
            f"400 TriggerInputSchemaMismatch: {problem}",
        )

    def accepted(self, incoming: Incoming) -> Answer:
        payload = incoming.payload if isinstance(incoming.payload, dict) else {}
        problem = _teams_card_problem(payload)
        if problem is not None:
            # the trigger takes the request; the flow's "post card" step fails later, and
            # nobody tells the sender (the flow runs after the 202)
            return Answer(202, error=f"accepted, but the flow cannot post the card: {problem}")
        return Answer(202)

    def title(self, payload: dict[str, Any]) -> str:
        # the first text of the first card that has one
        for attachment in payload.get("attachments") or []:
            found = _first_text_block(attachment["content"].get("body") or [])
            if found:
                return found
        return ""

    def view(self, payload: dict[str, Any]) -> str:
        return render(payload)


def _teams_card_problem(payload: dict[str, Any]) -> str | None:
    """What in the cards Teams cannot show: a RichTextBlock whose ``inlines`` are not
    TextRuns (or strings) with text, an ``Action.OpenUrl`` without an absolute URL
    (Adaptive Cards schema: ``RichTextBlock.inlines``, ``TextRun.text``,
    ``Action.OpenUrl.url`` are required)."""
    for i, attachment in enumerate(_teams_list(payload.get("attachments"))):
        card = attachment.get("content")
        card = card if isinstance(card, dict) else {}
        for j, element in enumerate(_teams_list(card.get("body"))):
            at = f"attachments[{i}].content.body[{j}]"
            if element.get("type") == "RichTextBlock":
                inlines = element.get("inlines")
                if not isinstance(inlines, list):
                    return f"{at}: a RichTextBlock needs inlines"
                for k, run in enumerate(inlines):
                    if isinstance(run, str):
                        continue
                    if not isinstance(run, dict) or run.get("type") != "TextRun":
                        return f"{at}.inlines[{k}]: not a TextRun"
                    if not isinstance(run.get("text"), str) or not run["text"]:
                        return f"{at}.inlines[{k}]: a TextRun needs text"
        for j, action in enumerate(_teams_list(card.get("actions"))):
            at = f"attachments[{i}].content.actions[{j}]"
            if action.get("type") == "Action.OpenUrl" and not _absolute_url(action.get("url")):
                return f"{at}: Action.OpenUrl needs an absolute url"
    return None


def _teams_list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _absolute_url(value: Any) -> bool:
    return isinstance(value, str) and bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s]+$", value))


def _teams_problem(payload: dict[str, Any]) -> str | None:
    if payload.get("type") != "message":
        return "'type' must be 'message'"
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "'attachments' must be a non-empty list"
    for i, attachment in enumerate(attachments):
        if not isinstance(attachment, dict) or attachment.get("contentType") != _ADAPTIVE:
            return f"attachments[{i}].contentType must be '{_ADAPTIVE}'"
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            return f"attachments[{i}].content must be an AdaptiveCard"
        if not isinstance(content.get("body", []), list):
            return f"attachments[{i}].content.body must be a list"
    return None


# -- the view --------------------------------------------------------------------------------

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


# -- the notification title ------------------------------------------------------------------


def _first_text_block(elements: list[Any]) -> str:
    """The text of the first TextBlock (markdown: escapes read) or RichTextBlock (its
    runs, shown as written)."""
    for element in elements:
        if not isinstance(element, dict):
            continue
        if element.get("type") == "TextBlock" and str_of(element.get("text")):
            return unbackslash(str_of(element["text"]))
        if element.get("type") == "RichTextBlock":
            runs = element.get("inlines")
            text = "".join(_run_text(run) for run in runs) if isinstance(runs, list) else ""
            if text.strip():
                return text
        for inner in ("items", "columns", "body"):
            found = _first_text_block(element.get(inner) or [])
            if found:
                return found
    return ""


def _run_text(run: Any) -> str:
    if isinstance(run, str):
        return run
    return str_of(run.get("text")) if isinstance(run, dict) else ""
