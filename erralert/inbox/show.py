"""Each stored message as HTML, the way its platform shows it: Slack blocks and
attachments, Discord embeds, Teams Adaptive Cards, Google Chat cards, Mattermost and
Rocket.Chat attachments, Telegram's HTML, DingTalk and WeCom markdown, Feishu/Lark cards,
and the generic webhook's document summarised. Link buttons (Slack actions, Teams
actions, Chat's buttonList, Feishu's action element, Telegram's inline keyboard,
DingTalk's actionCard, Rocket.Chat's attachment actions) are a row of buttons, each a
link only to a safe http(s) URL.

The payload is untrusted: every piece of HTML comes from ``erralert.inbox.markup``, which
escapes all text and writes only its own tags. A payload of a shape a renderer does not
expect falls back to its raw text, escaped, with a note.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from erralert._core.safelog import safe_logger
from erralert.inbox.markup import (
    FLAVOURS,
    chip,
    colour,
    esc,
    html_subset,
    link,
    markdown,
    markdown_inline,
    mrkdwn,
    safe_url,
)
from erralert.inbox.store import InboxMessage

__all__ = ["LABELS", "card_html", "markup_html", "render_body"]

logger = safe_logger("erralert.inbox")

LABELS = {
    "dingtalk": "DingTalk",
    "discord": "Discord",
    "feishu": "Feishu",
    "googlechat": "Google Chat",
    "lark": "Lark",
    "mattermost": "Mattermost",
    "rocketchat": "Rocket.Chat",
    "slack": "Slack",
    "teams": "Teams",
    "telegram": "Telegram",
    "webhook": "Webhook",
    "wecom": "WeCom",
    "unknown": "Unknown path",
}


def card_html(message: InboxMessage) -> str:
    """The page's card for one message: platform and kind badges, time, status, the
    refusal if any, the message as its platform shows it, and the raw JSON.

    A message the inbox fails to show (a bug, or a payload built to break it) is a card
    that says so, with its body as text: one message never costs the page or the API the
    others. The failure is logged once per message, not at every poll of the page."""
    try:
        return _card(message)
    except Exception:
        _log_failure_once(message)
        return _failed_card(message)


# (id, time received): ids start at 1 again in a new store of the same process (tests)
_failures_logged: set[tuple[int, float]] = set()
_failures_lock = threading.Lock()
FAILED_EXCERPT = 16_000  # characters of a message shown when it could not be rendered


def _log_failure_once(message: InboxMessage) -> None:
    with _failures_lock:
        if (message.id, message.received_at) in _failures_logged:
            return
        _failures_logged.add((message.id, message.received_at))
    logger.exception("erralert inbox: message %d could not be shown", message.id)


def _failed_card(message: InboxMessage) -> str:
    excerpt = message.raw[:FAILED_EXCERPT]
    cut = f" (the first {FAILED_EXCERPT} characters)" if len(message.raw) > FAILED_EXCERPT else ""
    return (
        f'<article class="msg p-unknown is-failed" data-id="{message.id}" '
        f'data-platform="{esc(message.platform)}"><header>'
        f'<span class="badge platform">{esc(LABELS.get(message.platform, message.platform))}</span>'
        f'<code class="path">{esc(message.path)}</code></header>'
        f'<div class="note">The inbox could not show this message (see its log); '
        f"its body as received{cut}:</div>"
        f'<pre class="plain">{esc(excerpt)}</pre></article>'
    )


def _card(message: InboxMessage) -> str:
    platform = message.platform if message.platform in LABELS else "unknown"
    refused = message.error is not None
    badges = [f'<span class="badge platform">{esc(LABELS[platform])}</span>']
    if message.kind:
        badges.append(
            f'<span class="badge kind kind-{esc(message.kind)}">{esc(message.kind)}</span>'
        )
    if refused:
        badges.append(f'<span class="badge refused">refused · {message.status}</span>')
    else:
        badges.append(f'<span class="badge status">{message.status}</span>')
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(message.received_at))
    refusal = (
        f'<div class="refusal">The platform would refuse this: {esc(message.error)}</div>'
        if refused
        else ""
    )
    if message.cut_from is not None:
        refusal += (
            f'<div class="note">Only the first {len(message.raw):,} characters of this '
            f"refused body of {message.cut_from:,} bytes are kept.</div>"
        )
    raw = _pretty(message)
    return (
        f'<article class="msg p-{platform}{" is-refused" if refused else ""}" '
        f'data-id="{message.id}" data-platform="{esc(platform)}">'
        f'<header>{"".join(badges)}<time datetime="{esc(when)}">{esc(when)}</time>'
        f'<code class="path">{esc(message.path)}</code></header>'
        f"{refusal}"
        f'<div class="body">{render_body(message)}</div>'
        f"<details><summary>raw JSON</summary><pre>{esc(raw)}</pre></details>"
        "</article>"
    )


def _pretty(message: InboxMessage) -> str:
    if message.payload is None:
        return message.raw
    return json.dumps(message.payload, ensure_ascii=False, indent=2)


def render_body(message: InboxMessage) -> str:
    """The message as its platform shows it (safe HTML)."""
    payload = message.payload
    renderer = _RENDERERS.get(message.platform)
    if renderer is None or not isinstance(payload, dict):
        return f'<pre class="plain">{esc(message.raw)}</pre>'
    try:
        return renderer(payload)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        note = f"this payload does not have the shape the inbox knows ({type(exc).__name__})"
        return f'<div class="note">{esc(note)}</div><pre class="plain">{esc(message.raw)}</pre>'


def _json_field(value: Any) -> Any:
    """A field the Bot API takes as a JSON object or as its JSON-serialised string
    (``reply_markup``)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_DISCORD = FLAVOURS["discord"]
_TEAMS = FLAVOURS["teams"]
_DINGTALK = FLAVOURS["dingtalk"]
_FEISHU = FLAVOURS["feishu"]


def _bar(shade: Any, inner: str) -> str:
    """A block with a coloured bar on its left (attachments, embeds)."""
    value = colour(shade) or "#d0d0d0"
    return f'<div class="bar" style="border-left-color:{value}">{inner}</div>'


def _pings(who: list[str], note: str = "") -> str:
    if not who and not note:
        return ""
    chips = "".join(chip(w) for w in who)
    return f'<div class="pings">Pings: {chips}{esc(note)}</div>'


def _buttons(items: list[tuple[str, Any]], *, vertical: bool = False) -> str:
    """A row of link buttons (a column when ``vertical``): each ``(label, url)`` a button,
    a link only where the URL is a safe http(s) one."""
    if not items:
        return ""
    shown = "".join(link(url, f'<span class="button">{esc(label)}</span>') for label, url in items)
    return f'<div class="buttons{" vertical" if vertical else ""}">{shown}</div>'


def _when(value: Any) -> str:
    return f'<span class="ts">{esc(value)}</span>' if isinstance(value, str) and value else ""


# -- Slack ------------------------------------------------------------------------------------


def _slack(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    blocks = _list(payload.get("blocks"))
    if blocks:
        parts.append(_slack_blocks(blocks))
    elif _s(payload.get("text")):
        parts.append(f'<div class="mrkdwn">{mrkdwn(payload["text"])}</div>')
    for attachment in _list(payload.get("attachments")):
        attachment = _dict(attachment)
        inner = _slack_legacy(attachment)
        inner += _slack_blocks(_list(attachment.get("blocks")))
        parts.append(_bar(attachment.get("color"), inner))
    return "".join(parts)


def _slack_text(obj: Any) -> str:
    obj = _dict(obj)
    text = _s(obj.get("text"))
    if obj.get("type") == "plain_text":
        return esc(text)
    return f'<span class="mrkdwn">{mrkdwn(text)}</span>'


def _slack_blocks(blocks: list[Any]) -> str:
    out: list[str] = []
    for block in blocks:
        block = _dict(block)
        kind = block.get("type")
        if kind == "header":
            out.append(
                f'<div class="sl-header">{esc(_s(_dict(block.get("text")).get("text")))}</div>'
            )
        elif kind == "section":
            section = ""
            if block.get("text"):
                section += f"<div>{_slack_text(block['text'])}</div>"
            fields = _list(block.get("fields"))
            if fields:
                cells = "".join(f"<div>{_slack_text(f)}</div>" for f in fields)
                section += f'<div class="fields">{cells}</div>'
            out.append(f'<div class="sl-section">{section}</div>')
        elif kind == "context":
            items = []
            for element in _list(block.get("elements")):
                element = _dict(element)
                if element.get("type") == "image":
                    items.append(f'<span class="img">[{esc(_s(element.get("alt_text")))}]</span>')
                else:
                    items.append(_slack_text(element))
            out.append(f'<div class="context">{" ".join(items)}</div>')
        elif kind == "divider":
            out.append("<hr>")
        elif kind == "markdown":
            out.append(f'<div class="md">{markdown(_s(block.get("text")))}</div>')
        elif kind == "image":
            out.append(f'<div class="img">[image: {esc(_s(block.get("alt_text")))}]</div>')
        elif kind == "actions":
            out.append(_slack_actions(_list(block.get("elements"))))
        else:
            out.append(f'<div class="note">[{esc(kind)} block]</div>')
    return "".join(out)


def _slack_actions(elements: list[Any]) -> str:
    """An actions block: its buttons (a link button opens its ``url``); other elements
    (menus, date pickers) by their type."""
    buttons: list[tuple[str, Any]] = []
    others: list[str] = []
    for element in elements:
        element = _dict(element)
        if element.get("type") == "button":
            buttons.append((_s(_dict(element.get("text")).get("text")), element.get("url")))
        else:
            others.append(f'<div class="note">[{esc(element.get("type"))}]</div>')
    return _buttons(buttons) + "".join(others)


def _slack_legacy(attachment: dict[str, Any]) -> str:
    """A legacy attachment's pretext, title, text and fields (also Mattermost's and
    Rocket.Chat's, which copied them)."""
    out: list[str] = []
    if _s(attachment.get("pretext")):
        out.append(f'<div class="mrkdwn">{mrkdwn(attachment["pretext"])}</div>')
    if _s(attachment.get("title")):
        title = esc(attachment["title"])
        out.append(f'<div class="att-title">{link(attachment.get("title_link"), title)}</div>')
    if _s(attachment.get("text")):
        out.append(f'<div class="mrkdwn">{mrkdwn(attachment["text"])}</div>')
    out.append(_legacy_fields(attachment, mrkdwn))
    if _s(attachment.get("footer")):
        out.append(f'<div class="context">{esc(attachment["footer"])}</div>')
    return "".join(out)


def _legacy_fields(attachment: dict[str, Any], text: Callable[[str], str]) -> str:
    cells = []
    for item in _list(attachment.get("fields")):
        item = _dict(item)
        wide = "" if item.get("short") else ' class="wide"'
        cells.append(
            f"<div{wide}><b>{esc(_s(item.get('title')))}</b><br>{text(_s(item.get('value')))}</div>"
        )
    return f'<div class="fields">{"".join(cells)}</div>' if cells else ""


# -- Discord ----------------------------------------------------------------------------------


def _discord(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    content = _s(payload.get("content"))
    if content:
        parts.append(f'<div class="md">{markdown(content, _DISCORD)}</div>')
    for embed in _list(payload.get("embeds")):
        embed = _dict(embed)
        inner = ""
        author = _s(_dict(embed.get("author")).get("name"))
        if author:
            inner += f'<div class="context">{esc(author)}</div>'
        if _s(embed.get("title")):
            title = markdown_inline(embed["title"], _DISCORD)
            inner += f'<div class="em-title">{link(embed.get("url"), title)}</div>'
        if _s(embed.get("description")):
            inner += f'<div class="md">{markdown(embed["description"], _DISCORD)}</div>'
        cells = []
        for item in _list(embed.get("fields")):
            item = _dict(item)
            wide = "" if item.get("inline") else ' class="wide"'
            cells.append(
                f"<div{wide}><b>{markdown_inline(_s(item.get('name')), _DISCORD)}</b>"
                f'<div class="md">{markdown(_s(item.get("value")), _DISCORD)}</div></div>'
            )
        if cells:
            inner += f'<div class="fields three">{"".join(cells)}</div>'
        footer = _s(_dict(embed.get("footer")).get("text"))
        if footer or embed.get("timestamp"):
            inner += f'<div class="context">{esc(footer)} {_when(embed.get("timestamp"))}</div>'
        parts.append(_bar(embed.get("color"), inner))
    parts.append(_discord_pings(payload))
    return "".join(parts)


def _discord_pings(payload: dict[str, Any]) -> str:
    """Who Discord would notify: the mentions in ``content`` that ``allowed_mentions``
    lets through (without it, every mention pings)."""
    content = _s(payload.get("content"))
    users = re.findall(r"<@!?(\d+)>", content)
    roles = re.findall(r"<@&(\d+)>", content)
    everyone = re.findall(r"@(everyone|here)\b", content)
    if not (users or roles or everyone):
        return ""
    allowed = payload.get("allowed_mentions")
    if not isinstance(allowed, dict):
        who = [f"@{u}" for u in users] + [f"@&{r}" for r in roles] + [f"@{e}" for e in everyone]
        return _pings(who)
    parse = set(_list(allowed.get("parse")))
    allowed_users = {str(u) for u in _list(allowed.get("users"))}
    allowed_roles = {str(r) for r in _list(allowed.get("roles"))}
    who = [f"@{u}" for u in users if "users" in parse or u in allowed_users]
    who += [f"@&{r}" for r in roles if "roles" in parse or r in allowed_roles]
    who += [f"@{e}" for e in everyone if "everyone" in parse]
    return _pings(who, "" if who else "nobody (allowed_mentions)")


# -- Teams ------------------------------------------------------------------------------------

_TEAMS_SIZES = {"small": "s", "default": "m", "medium": "l", "large": "xl", "extralarge": "xxl"}
_TEAMS_COLOURS = {"attention", "warning", "good", "accent", "dark", "light", "default"}


def _teams(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    for attachment in _list(payload.get("attachments")):
        card = _dict(_dict(attachment).get("content"))
        names = {
            _s(_dict(e).get("text")): _s(_dict(_dict(e).get("mentioned")).get("name"))
            for e in _list(_dict(card.get("msteams")).get("entities"))
            if _dict(e).get("type") == "mention"
        }
        body = _teams_elements(_list(card.get("body")), names)
        actions = _teams_actions(_list(card.get("actions")))
        parts.append(f'<div class="ac-card">{body}{actions}</div>')
    return "".join(parts)


def _teams_actions(actions: list[Any]) -> str:
    """A card's (or an ActionSet's) actions as buttons: ``Action.OpenUrl`` opens its URL;
    the others (submit, show a card) do nothing here."""
    return _buttons([(_s(_dict(a).get("title")), _teams_url(_dict(a))) for a in actions])


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
        element = _dict(element)
        kind = element.get("type")
        spacing = " tight" if str(element.get("spacing", "")).lower() == "none" else ""
        if kind == "TextBlock":
            out.append(_teams_text(element, mentions, spacing))
        elif kind == "RichTextBlock":
            runs = "".join(_teams_run(run) for run in _list(element.get("inlines")))
            out.append(f'<div class="ac-text{spacing}">{runs}</div>')
        elif kind == "ActionSet":
            out.append(_teams_actions(_list(element.get("actions"))))
        elif kind == "FactSet":
            rows = "".join(
                f"<tr><th>{markdown_inline(_s(_dict(f).get('title')), _TEAMS)}</th>"
                f"<td>{markdown_inline(_s(_dict(f).get('value')), _TEAMS)}</td></tr>"
                for f in _list(element.get("facts"))
            )
            out.append(f'<table class="facts">{rows}</table>')
        elif kind == "ColumnSet":
            columns = "".join(
                '<div class="ac-col">'
                f"{_teams_elements(_list(_dict(c).get('items')), mentions, depth + 1)}</div>"
                for c in _list(element.get("columns"))
            )
            out.append(f'<div class="ac-cols">{columns}</div>')
        elif kind == "Container":
            out.append(
                f'<div class="ac-container">'
                f"{_teams_elements(_list(element.get('items')), mentions, depth + 1)}</div>"
            )
        elif kind == "Image":
            out.append(f'<div class="img">[image: {esc(_s(element.get("altText")))}]</div>')
        else:
            out.append(f'<div class="note">[{esc(kind)}]</div>')
    return "".join(out)


def _teams_run(run: Any) -> str:
    """A TextRun (or a plain string) of a RichTextBlock: its text as written, never parsed
    (no markdown, no <at> mention), in its style."""
    if isinstance(run, str):
        return esc(run)
    run = _dict(run)
    shown = esc(_s(run.get("text")))
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
    rendered = markdown(_s(element.get("text")), _TEAMS, chips)
    return f'<div class="ac-text size-{size} color-{shade}{weight}{mono}{spacing}">{rendered}</div>'


# -- Google Chat ------------------------------------------------------------------------------


def _chat_link(attrs: dict[str, str]) -> tuple[str, str]:
    target = safe_url(attrs.get("href"))
    if target is None:
        return '<span class="badlink">', "span"
    return f'<a href="{esc(target)}" rel="noopener noreferrer nofollow" target="_blank">', "a"


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
    "a": ("a", _chat_link),
    "font": ("span", _chat_font),
}


def _chat_html(text: str) -> str:
    return html_subset(text, _CHAT_HTML, void=frozenset({"br"}))


def _googlechat(payload: dict[str, Any]) -> str:
    parts: list[str] = []
    if _s(payload.get("text")):
        parts.append(f'<div class="mrkdwn">{mrkdwn(payload["text"])}</div>')
    for item in _list(payload.get("cardsV2")):
        card = _dict(_dict(item).get("card"))
        header = _dict(card.get("header"))
        inner = ""
        if header:
            inner += (
                f'<div class="gc-header"><div class="gc-title">{esc(_s(header.get("title")))}</div>'
                f'<div class="gc-subtitle">{esc(_s(header.get("subtitle")))}</div></div>'
            )
        for section in _list(card.get("sections")):
            section = _dict(section)
            body = ""
            if _s(section.get("header")):
                body += f'<div class="gc-section-title">{_chat_html(section["header"])}</div>'
            for widget in _list(section.get("widgets")):
                body += _chat_widget(_dict(widget))
            inner += f'<div class="gc-section">{body}</div>'
        parts.append(f'<div class="gc-card">{inner}</div>')
    thread = _s(_dict(payload.get("thread")).get("threadKey"))
    if thread:
        parts.append(f'<div class="context">thread {esc(thread)}</div>')
    return "".join(parts)


def _chat_widget(widget: dict[str, Any]) -> str:
    if "textParagraph" in widget:
        text = _s(_dict(widget["textParagraph"]).get("text"))
        return f'<div class="gc-text">{_chat_html(text)}</div>'
    if "decoratedText" in widget:
        item = _dict(widget["decoratedText"])
        return (
            '<div class="gc-deco">'
            f'<div class="context">{_chat_html(_s(item.get("topLabel")))}</div>'
            f"<div>{_chat_html(_s(item.get('text')))}</div>"
            f'<div class="context">{_chat_html(_s(item.get("bottomLabel")))}</div></div>'
        )
    if "divider" in widget:
        return "<hr>"
    if "buttonList" in widget:
        buttons: list[tuple[str, Any]] = []
        for button in _list(_dict(widget["buttonList"]).get("buttons")):
            button = _dict(button)
            url = _dict(_dict(_dict(button.get("onClick")).get("openLink"))).get("url")
            buttons.append((_s(button.get("text")), url))
        return _buttons(buttons)
    return f'<div class="note">[{esc(", ".join(widget))}]</div>'


# -- Mattermost and Rocket.Chat ---------------------------------------------------------------


def _mattermost(payload: dict[str, Any], *, platform: str = "mattermost") -> str:
    """Mattermost's post (and Rocket.Chat's, which has the same shape)."""
    flavour = FLAVOURS[platform]

    def md(text: str) -> str:
        return markdown(text, flavour)

    parts: list[str] = []
    if _s(payload.get("text")):
        parts.append(f'<div class="md">{md(payload["text"])}</div>')
    for attachment in _list(payload.get("attachments")):
        attachment = _dict(attachment)
        inner = ""
        if _s(attachment.get("pretext")):
            inner += f'<div class="md">{md(attachment["pretext"])}</div>'
        if _s(attachment.get("title")):
            title = esc(attachment["title"])
            inner += f'<div class="att-title">{link(attachment.get("title_link"), title)}</div>'
        if _s(attachment.get("text")):
            inner += f'<div class="md">{md(attachment["text"])}</div>'
        inner += _legacy_fields(attachment, md)
        if platform == "rocketchat":
            inner += _rocketchat_actions(attachment)
        parts.append(_bar(attachment.get("color"), inner))
    return "".join(parts)


def _rocketchat_actions(attachment: dict[str, Any]) -> str:
    """An attachment's ``actions`` as Rocket.Chat's web client still draws them: a button
    each (one with a ``url`` opens it), in a row when ``button_alignment`` is
    "horizontal"."""
    buttons = [
        (_s(_dict(a).get("text")), _dict(a).get("url"))
        for a in _list(attachment.get("actions"))
        if _dict(a).get("type") == "button"
    ]
    return _buttons(buttons, vertical=attachment.get("button_alignment") != "horizontal")


def _rocketchat(payload: dict[str, Any]) -> str:
    return _mattermost(payload, platform="rocketchat")


# -- Telegram ---------------------------------------------------------------------------------


def _telegram_link(attrs: dict[str, str]) -> tuple[str, str]:
    href = attrs.get("href", "")
    if href.startswith("tg://user?id="):
        return '<span class="mention">@', "span"
    return _chat_link(attrs)


def _spoiler(attrs: dict[str, str]) -> tuple[str, str]:
    return '<span class="spoiler">', "span"


_TELEGRAM_HTML: dict[str, tuple[str, Any]] = {
    "b": ("b", None),
    "strong": ("b", None),
    "i": ("i", None),
    "em": ("i", None),
    "u": ("u", None),
    "ins": ("u", None),
    "s": ("s", None),
    "strike": ("s", None),
    "del": ("s", None),
    "code": ("code", None),
    "pre": ("pre", None),
    "blockquote": ("blockquote", None),
    "a": ("a", _telegram_link),
    "tg-spoiler": ("span", _spoiler),
    "span": ("span", _spoiler),
    "tg-emoji": ("span", lambda attrs: ("<span>", "span")),
}


# what Telegram finds in text by itself, outside <code> and <pre>: links and @mentions
_TELEGRAM_FOUND = re.compile(
    r"(?P<url>(?<![\w.-])(?:https?://|(?P<www>www\.))[^\s<>]*[^\s<>.,:;\"')\]!?])"
    r"|(?<![\w@.+-])@(?P<who>[A-Za-z0-9_]{1,32})"
)


def _telegram_plain(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _TELEGRAM_FOUND.finditer(text):
        out.append(esc(text[pos : match.start()]))
        if match["who"] is not None:
            out.append(chip(f"@{match['who']}"))
        else:
            url = match["url"]
            out.append(link(f"http://{url}" if match["www"] else url, esc(url)))
        pos = match.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def _telegram(payload: dict[str, Any]) -> str:
    text = _s(payload.get("text"))
    if str(payload.get("parse_mode", "")).upper() == "HTML":
        body = html_subset(text, _TELEGRAM_HTML, plain=_telegram_plain)
    else:
        body = _telegram_plain(text)
    keyboard = "".join(
        _buttons([(_s(_dict(b).get("text")), _dict(b).get("url")) for b in _list(row)])
        for row in _list(_dict(_json_field(payload.get("reply_markup"))).get("inline_keyboard"))
    )
    return f'<div class="tg-text">{body}</div>{keyboard}'


# -- DingTalk and WeCom -----------------------------------------------------------------------


def _dingtalk(payload: dict[str, Any]) -> str:
    msgtype = payload.get("msgtype")
    parts: list[str] = []
    if msgtype == "markdown":
        body = _dict(payload.get("markdown"))
        # the title is what the notification shows; the chat shows the text
        title = esc(_s(body.get("title")))
        parts.append(f'<div class="context">notification: {title}</div>')
        parts.append(f'<div class="md">{markdown(_s(body.get("text")), _DINGTALK)}</div>')
    elif msgtype == "text":
        parts.append(
            f'<div class="plain">{esc(_s(_dict(payload.get("text")).get("content")))}</div>'
        )
    elif msgtype in ("link", "actionCard"):
        body = _dict(payload.get(msgtype))
        parts.append(f'<div class="dt-title">{esc(_s(body.get("title")))}</div>')
        parts.append(f'<div class="md">{markdown(_s(body.get("text")), _DINGTALK)}</div>')
        if msgtype == "actionCard":
            parts.append(_dingtalk_buttons(body))
    else:
        parts.append(f'<pre class="plain">{esc(json.dumps(payload, ensure_ascii=False))}</pre>')
    at = _dict(payload.get("at"))
    who = [f"@{m}" for m in _list(at.get("atMobiles"))] + [
        f"@{u}" for u in _list(at.get("atUserIds"))
    ]
    if at.get("isAtAll") is True:
        who.insert(0, "@all")
    parts.append(_pings(who))
    return "".join(parts)


def _dingtalk_buttons(card: dict[str, Any]) -> str:
    """An actionCard's buttons: one (``singleTitle``, ``singleURL``) or many (``btns`` of
    ``title`` and ``actionURL``), side by side when ``btnOrientation`` is "1"."""
    if _s(card.get("singleTitle")):
        return _buttons([(card["singleTitle"], card.get("singleURL"))])
    buttons = [
        (_s(_dict(b).get("title")), _dict(b).get("actionURL")) for b in _list(card.get("btns"))
    ]
    return _buttons(buttons, vertical=str(card.get("btnOrientation", "0")) != "1")


def _wecom(payload: dict[str, Any]) -> str:
    msgtype = _s(payload.get("msgtype"))
    body = _dict(payload.get(msgtype))
    content = _s(body.get("content"))
    if msgtype.startswith("markdown"):
        rendered = f'<div class="md">{markdown(content, FLAVOURS["wecom"])}</div>'
    else:
        rendered = f'<div class="plain">{esc(content)}</div>'
    who = [f"@{w}" if w != "@all" else "@all" for w in map(str, _list(body.get("mentioned_list")))]
    who += [f"@{m}" for m in _list(body.get("mentioned_mobile_list"))]
    return rendered + _pings(who)


# -- Feishu and Lark --------------------------------------------------------------------------

_FEISHU_TEMPLATES = {
    "blue",
    "wathet",
    "turquoise",
    "green",
    "yellow",
    "orange",
    "red",
    "carmine",
    "violet",
    "purple",
    "indigo",
    "grey",
}


def _feishu(payload: dict[str, Any]) -> str:
    card = payload.get("card")
    if isinstance(card, dict):
        return _feishu_card(card)
    content = _dict(payload.get("content"))
    post = content.get("post")
    if isinstance(post, dict):
        return _feishu_post(post)
    return f'<div class="md">{markdown(_s(content.get("text")), _FEISHU)}</div>'


def _feishu_card(card: dict[str, Any]) -> str:
    header = _dict(card.get("header"))
    template = str(header.get("template", "blue")).lower()
    template = template if template in _FEISHU_TEMPLATES else "blue"
    title = _s(_dict(header.get("title")).get("content"))
    out = [f'<div class="fs-header fs-{template}">{esc(title)}</div>'] if header else []
    for element in _list(card.get("elements")):
        out.append(_feishu_element(_dict(element)))
    return f'<div class="fs-card">{"".join(out)}</div>'


def _feishu_text(obj: Any) -> str:
    obj = _dict(obj)
    text = _s(obj.get("content"))
    return markdown(text, _FEISHU) if obj.get("tag") == "lark_md" else f"<p>{esc(text)}</p>"


def _feishu_element(element: dict[str, Any]) -> str:
    tag = element.get("tag")
    if tag == "div":
        inner = _feishu_text(element.get("text")) if element.get("text") else ""
        cells = "".join(
            f"<div{'' if _dict(f).get('is_short') else ' class=wide'}>"
            f"{_feishu_text(_dict(f).get('text'))}</div>"
            for f in _list(element.get("fields"))
        )
        if cells:
            inner += f'<div class="fields">{cells}</div>'
        return f'<div class="fs-div">{inner}</div>'
    if tag == "markdown":
        # the rich text element: inline code, code blocks, <at>, links
        return f'<div class="fs-div">{markdown(_s(element.get("content")), _FEISHU)}</div>'
    if tag == "hr":
        return "<hr>"
    if tag == "note":
        items = " ".join(_feishu_text(e) for e in _list(element.get("elements")))
        return f'<div class="context fs-note">{items}</div>'
    if tag == "action":
        buttons: list[tuple[str, Any]] = []
        for action in _list(element.get("actions")):
            action = _dict(action)
            buttons.append((_s(_dict(action.get("text")).get("content")), action.get("url")))
        return f'<div class="fs-div">{_buttons(buttons)}</div>'
    return f'<div class="note">[{esc(tag)}]</div>'


def _feishu_post(post: dict[str, Any]) -> str:
    language = next((v for v in post.values() if isinstance(v, dict)), {})
    out = [f'<div class="dt-title">{esc(_s(language.get("title")))}</div>']
    for line in _list(language.get("content")):
        pieces = []
        for item in _list(line):
            item = _dict(item)
            if item.get("tag") == "a":
                pieces.append(link(item.get("href"), esc(_s(item.get("text")))))
            elif item.get("tag") == "at":
                who = _s(item.get("user_id"))
                pieces.append(
                    chip("@all" if who == "all" else f"@{_s(item.get('user_name')) or who}")
                )
            else:
                pieces.append(esc(_s(item.get("text"))))
        out.append(f"<p>{''.join(pieces)}</p>")
    return "".join(out)


# -- the generic webhook ----------------------------------------------------------------------


def _webhook(payload: dict[str, Any]) -> str:
    event = _dict(payload.get("event"))
    occurrences = _dict(payload.get("occurrences"))
    exception = _dict(event.get("exception"))
    request = _dict(event.get("request"))
    rows = [
        ("kind", payload.get("kind")),
        ("title", payload.get("title") or event.get("title")),
        ("exception", exception.get("type")),
        ("culprit", event.get("culprit")),
        ("request", " ".join(_s(request.get(k)) for k in ("method", "path")).strip()),
        ("count", occurrences.get("count")),
        ("total", occurrences.get("total")),
        ("service", event.get("service")),
        ("environment", event.get("environment")),
    ]
    table = "".join(
        f"<tr><th>{esc(name)}</th><td>{esc(value)}</td></tr>"
        for name, value in rows
        if value not in (None, "")
    )
    out = [f'<table class="facts">{table}</table>']
    storm = payload.get("storm")
    if isinstance(storm, dict):
        groups = "".join(
            f"<li><b>\u00d7{esc(_dict(g).get('count'))}</b> {esc(_s(_dict(g).get('title')))} "
            f"<code>{esc(_s(_dict(g).get('culprit')))}</code></li>"
            for g in _list(storm.get("groups"))
        )
        out.append(f"<ul>{groups}</ul>")
    if _s(payload.get("text")):
        out.append(f'<pre class="plain">{esc(payload["text"])}</pre>')
    return "".join(out)


_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "dingtalk": _dingtalk,
    "discord": _discord,
    "feishu": _feishu,
    "googlechat": _googlechat,
    "lark": _feishu,
    "mattermost": _mattermost,
    "rocketchat": _rocketchat,
    "slack": _slack,
    "teams": _teams,
    "telegram": _telegram,
    "webhook": _webhook,
    "wecom": _wecom,
}


def markup_html(platform: str, text: str) -> str:
    """One string of a payload in the markup its platform parses it as (Slack's and
    Google Chat's text mrkdwn, Telegram's HTML, Google Chat's card HTML, the markdown
    flavours), as the platform shows it: what a test asks "would this mention anyone or
    link anywhere?"."""
    if platform == "slack":
        return mrkdwn(text)
    if platform == "googlechat":
        return _chat_html(text)
    if platform == "telegram":
        return html_subset(text, _TELEGRAM_HTML, plain=_telegram_plain)
    flavour = FLAVOURS.get("feishu" if platform == "lark" else platform)
    return markdown(text, flavour) if flavour is not None else esc(text)
