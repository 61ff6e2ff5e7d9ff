"""The inbox's one page: self-contained (inline CSS and script, nothing from the network),
newest message first, a filter by platform with counts, and a poll of
``/api/messages?after=<last id>`` every second that inserts the server-rendered cards of new
messages. The script inserts only HTML the server made (``erralert.inbox.show``) and builds
the filter with ``textContent``; a per-response nonce in the Content-Security-Policy keeps
any script but its own from running.

The page is package data (``erralert/inbox/assets``): ``page.html`` with ``$name`` slots
(``string.Template``), and the ``page.css`` and ``page.js`` it inlines. Each template is
filled in one pass, so nothing a value holds (a card's ``$`` or braces) is read as a slot.
"""

from __future__ import annotations

import json
from importlib.resources import files
from string import Template

from erralert.inbox.markup.safe import esc
from erralert.inbox.show import LABELS

__all__ = ["content_security_policy", "dropped_note", "page_html"]


def _asset(name: str) -> str:
    return (files("erralert.inbox") / "assets" / name).read_text(encoding="utf-8")


_PAGE = Template(_asset("page.html"))
_STYLE = _asset("page.css")
_SCRIPT = Template(_asset("page.js"))


def content_security_policy(nonce: str) -> str:
    """The page's CSP: its own nonce'd script, inline styles (colour bars), same-origin
    fetches, nothing else."""
    return (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; "
        "style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def page_html(
    cards: str, counts: dict[str, int], last_id: int, nonce: str, dropped: str = ""
) -> str:
    """The whole page, with the cards already rendered (the page works without script);
    ``dropped``: the note that older messages were dropped (``dropped_note``), if any."""
    labels = json.dumps(LABELS).replace("<", "\\u003c")
    initial = json.dumps(counts).replace("<", "\\u003c")
    total = sum(counts.values())
    return _PAGE.substitute(
        style=_STYLE,
        script=_SCRIPT.substitute(labels=labels, counts=initial),
        cards=cards,
        last_id=int(last_id),
        nonce=esc(nonce),
        empty_hidden=" hidden" if total else "",
        dropped=esc(dropped),
        dropped_hidden="" if dropped else " hidden",
    )


def dropped_note(dropped: int, max_messages: int, max_bytes: int) -> str:
    """What the page says when the store dropped messages to stay within its bounds."""
    if not dropped:
        return ""
    older = "older message was" if dropped == 1 else "older messages were"
    return (
        f"{dropped} {older} dropped: the inbox keeps the newest {max_messages} messages "
        f"and {max_bytes / 1_000_000:g} MB (erralert inbox --max-messages, --max-mb)."
    )
