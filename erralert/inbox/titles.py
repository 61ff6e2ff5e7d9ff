"""The one-line summary of a received message, per platform: what a phone's notification
would show (Slack's header block, Discord's embed title, a Feishu card's header,
DingTalk's ``markdown.title``, …)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

__all__ = ["KINDS", "kind_of", "title_of"]

KINDS = frozenset({"alert", "digest", "storm"})
TITLE_LIMIT = 200

_TAG = re.compile(r"<[^<>]*>")
_BACKSLASH = re.compile(r"\\([!-/:-@\[-`{-~])")  # Discord's markdown escapes
_MARKS = re.compile(r"^[#>\s]+|\*\*|__|~~")
_INVISIBLE = str.maketrans({"\u200b": None, "\u2060": None})


def kind_of(header: str | None, payload: Any) -> str | None:
    """``alert`` / ``digest`` / ``storm``: erralert's ``X-Erralert-Kind`` header, else the
    generic webhook document's ``kind``; None when neither says."""
    for said in (header, payload.get("kind") if isinstance(payload, dict) else None):
        if isinstance(said, str) and said.strip().lower() in KINDS:
            return said.strip().lower()
    return None


def title_of(platform: str, payload: Any) -> str:
    """The summary line of ``payload`` as ``platform`` shows it ("" when there is none)."""
    if not isinstance(payload, dict):
        return ""
    try:
        found = _EXTRACTORS.get(platform, _generic)(payload)
    except (AttributeError, TypeError, KeyError, IndexError):  # a payload of another shape
        found = ""
    return _one_line(found or "")


def _one_line(text: str) -> str:
    text = text.translate(_INVISIBLE)
    for line in text.splitlines():
        line = _MARKS.sub("", line).strip()
        if line:
            line = " ".join(line.split())
            return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 1] + "…"
    return ""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _slack(payload: dict[str, Any]) -> str:
    blocks = payload.get("blocks") or []
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "header":
            return _str(block["text"]["text"])
    text = _str(payload.get("text"))
    if not text:
        for block in blocks:
            if isinstance(block, dict) and isinstance(block.get("text"), dict):
                text = _str(block["text"].get("text"))
                break
    if not text:
        for attachment in payload.get("attachments") or []:
            text = _str(attachment.get("title")) or _str(attachment.get("fallback"))
            if text:
                break
    # mrkdwn's three escapes
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _discord(payload: dict[str, Any]) -> str:
    for embed in payload.get("embeds") or []:
        title = _str(embed.get("title"))
        if title:
            return _BACKSLASH.sub(r"\1", title)
    return _BACKSLASH.sub(r"\1", _str(payload.get("content")))


def _teams(payload: dict[str, Any]) -> str:
    for attachment in payload.get("attachments") or []:
        found = _first_text_block(attachment["content"].get("body") or [])
        if found:
            return found
    return ""


def _first_text_block(elements: list[Any]) -> str:
    """The text of the first TextBlock (markdown: escapes read) or RichTextBlock (its
    runs, shown as written)."""
    for element in elements:
        if not isinstance(element, dict):
            continue
        if element.get("type") == "TextBlock" and _str(element.get("text")):
            return _BACKSLASH.sub(r"\1", _str(element["text"]))
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
    return _str(run.get("text")) if isinstance(run, dict) else ""


def _googlechat(payload: dict[str, Any]) -> str:
    for card in payload.get("cardsV2") or []:
        title = _str(card["card"].get("header", {}).get("title"))
        if title:
            return title
    return _str(payload.get("fallbackText")) or _str(payload.get("text"))


def _bold_line(payload: dict[str, Any]) -> str:
    """Mattermost and Rocket.Chat: the post's text (erralert puts the title there in bold),
    else the first attachment's title or fallback."""
    text = _str(payload.get("text")).strip()
    first = text.splitlines()[0] if text else ""
    first = first.strip("*").strip()
    if first:
        return first
    for attachment in payload.get("attachments") or []:
        found = _str(attachment.get("title")) or _str(attachment.get("fallback"))
        if found:
            return found
    return ""


def _telegram(payload: dict[str, Any]) -> str:
    return html.unescape(_TAG.sub("", _str(payload.get("text"))))


def _dingtalk(payload: dict[str, Any]) -> str:
    msgtype = payload.get("msgtype")
    if msgtype == "markdown":
        return _str(payload["markdown"].get("title")) or _str(payload["markdown"].get("text"))
    if msgtype in ("link", "actionCard"):
        return _str(payload[msgtype].get("title"))
    return _str(payload.get("text", {}).get("content"))


def _wecom(payload: dict[str, Any]) -> str:
    msgtype = _str(payload.get("msgtype"))
    content = _str(payload.get(msgtype, {}).get("content"))
    return _TAG.sub("", content)


def _feishu(payload: dict[str, Any]) -> str:
    card = payload.get("card")
    if isinstance(card, dict):
        title = card.get("header", {}).get("title", {})
        return _str(title.get("content")).replace("<\u200b", "<")
    content = payload.get("content") or {}
    post = content.get("post")
    if isinstance(post, dict):
        for language in post.values():
            if isinstance(language, dict) and _str(language.get("title")):
                return _str(language["title"])
    return _str(content.get("text"))


def _webhook(payload: dict[str, Any]) -> str:
    event = payload.get("event")
    return _str(payload.get("title")) or (
        _str(event.get("title")) if isinstance(event, dict) else ""
    )


def _generic(payload: dict[str, Any]) -> str:
    for key in ("title", "text", "content", "message"):
        if _str(payload.get(key)):
            return _str(payload[key])
    return ""


_EXTRACTORS: dict[str, Callable[[dict[str, Any]], str]] = {
    "dingtalk": _dingtalk,
    "discord": _discord,
    "feishu": _feishu,
    "googlechat": _googlechat,
    "lark": _feishu,
    "mattermost": _bold_line,
    "rocketchat": _bold_line,
    "slack": _slack,
    "teams": _teams,
    "telegram": _telegram,
    "webhook": _webhook,
    "wecom": _wecom,
}
