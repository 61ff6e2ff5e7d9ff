"""Each stored message as HTML, the way its platform shows it: Slack blocks and
attachments, Discord embeds, Teams Adaptive Cards, Google Chat cards, Mattermost and
Rocket.Chat attachments, Telegram's HTML, DingTalk and WeCom markdown, Feishu/Lark cards,
and the generic webhook's document summarised. Link buttons (Slack actions, Teams
actions, Chat's buttonList, Feishu's action element, Telegram's inline keyboard,
DingTalk's actionCard, Rocket.Chat's attachment actions) are a row of buttons, each a
link only to a safe http(s) URL.

Each platform's view is in its module in ``erralert.inbox.platforms``; this module makes
the card around it. The payload is untrusted: every piece of HTML comes from
``erralert.inbox.markup``, which escapes all text and writes only its own tags. A payload
of a shape a renderer does not expect falls back to its raw text, escaped, with a note.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from erralert._core.safelog import safe_logger
from erralert.inbox.markup.safe import esc
from erralert.inbox.platforms.registry import PLATFORMS
from erralert.inbox.store import InboxMessage

__all__ = ["LABELS", "RENDERERS", "card_html", "markup_html", "render_body"]

logger = safe_logger("erralert.inbox")

# each platform's name on the page, by platform; ``unknown``: a path no platform takes
LABELS = {name: platform.label for name, platform in PLATFORMS.items()} | {
    "unknown": "Unknown path"
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
    renderer = RENDERERS.get(message.platform)
    if renderer is None or not isinstance(payload, dict):
        return f'<pre class="plain">{esc(message.raw)}</pre>'
    try:
        return renderer(payload)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        note = f"this payload does not have the shape the inbox knows ({type(exc).__name__})"
        return f'<div class="note">{esc(note)}</div><pre class="plain">{esc(message.raw)}</pre>'


# each platform's view of a payload, by platform
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    name: platform.view for name, platform in PLATFORMS.items()
}


def markup_html(platform: str, text: str) -> str:
    """One string of a payload in the markup its platform parses it as (Slack's and
    Google Chat's text mrkdwn, Telegram's HTML, Google Chat's card HTML, the markdown
    flavours), as the platform shows it: what a test asks "would this mention anyone or
    link anywhere?"."""
    known = PLATFORMS.get(platform)
    return known.markup(text) if known is not None else esc(text)
