"""The one-line summary of a received message, per platform: what a phone's notification
would show (Slack's header block, Discord's embed title, a Feishu card's header,
DingTalk's ``markdown.title``, …: each platform's ``title`` in its module), made one plain
line here."""

from __future__ import annotations

import re
from typing import Any

from erralert.inbox.platforms.parts import str_of
from erralert.inbox.platforms.registry import PLATFORMS

__all__ = ["KINDS", "kind_of", "title_of"]

KINDS = frozenset({"alert", "digest", "storm"})
TITLE_LIMIT = 200

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
        known = PLATFORMS.get(platform)
        found = known.title(payload) if known is not None else _generic(payload)
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


def _generic(payload: dict[str, Any]) -> str:
    """A platform the inbox does not know: the first text of the usual names."""
    for key in ("title", "text", "content", "message"):
        if str_of(payload.get(key)):
            return str_of(payload[key])
    return ""
