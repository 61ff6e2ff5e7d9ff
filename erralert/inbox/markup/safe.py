"""The pieces every markup's HTML is made of: escaped text, links only to http(s) URLs,
mention chips, colours only from a table or ``#rrggbb``.
"""

from __future__ import annotations

import html
import re

__all__ = ["chip", "colour", "esc", "link", "safe_url"]

_URL = re.compile(r"https?://[^\s<>\"'`\\]+", re.IGNORECASE)
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
_NAMED_COLOURS = {
    # Slack legacy attachments
    "good": "#2eb67d",
    "warning": "#ecb22e",
    "danger": "#e01e5a",
    # WeCom <font color>
    "info": "#2eb67d",
    "comment": "#8a8a8a",
    # Google Chat / common names
    "red": "#e01e5a",
    "green": "#2eb67d",
    "blue": "#1d72b8",
    "orange": "#f07c2e",
    "yellow": "#ecb22e",
    "purple": "#7c3aed",
    "grey": "#8a8a8a",
    "gray": "#8a8a8a",
}


def esc(text: object) -> str:
    """``text`` as HTML text (quotes too, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def safe_url(url: object) -> str | None:
    """``url`` when it is an absolute http(s) URL without spaces or quotes, else None."""
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    return candidate if _URL.fullmatch(candidate) else None


def link(url: object, label_html: str) -> str:
    """A link to a safe URL around already-safe ``label_html``; the label alone otherwise."""
    target = safe_url(url)
    if target is None:
        return label_html
    return (
        f'<a href="{esc(target)}" rel="noopener noreferrer nofollow" target="_blank">'
        f"{label_html}</a>"
    )


def chip(who: object) -> str:
    """A mention as a chip: the reader sees who would be pinged."""
    return f'<span class="mention">{esc(who)}</span>'


def colour(value: object) -> str | None:
    """``#rrggbb`` from a hex string, an integer (Discord) or a known name; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"#{value & 0xFFFFFF:06x}" if value >= 0 else None
    if not isinstance(value, str):
        return None
    named = _NAMED_COLOURS.get(value.strip().lower())
    if named:
        return named
    match = _HEX.fullmatch(value.strip())
    return f"#{match.group(1).lower()}" if match else None
