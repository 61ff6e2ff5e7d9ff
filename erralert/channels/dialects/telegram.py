"""Telegram HTML (``parse_mode: "HTML"``, the Bot API's "Formatting options").

The rules:

- "All ``<``, ``>`` and ``&`` symbols that are not a part of a tag or an HTML entity must be
  replaced with the corresponding HTML entities"; ``"`` is written ``&quot;`` too, so text
  is safe inside an attribute.
- Telegram finds ``@username`` mentions, URLs, ``www.`` names and mail addresses in the
  text by itself, and has no escape for them; it finds nothing inside ``<code>`` and
  ``<pre>``. So those tokens are shown as ``<code>``.
- Code spans are ``<code>``, code blocks ``<pre><code class="language-…">``; inside them
  only ``&``, ``<`` and ``>`` are entities (no attribute can be there: ``"`` stays as it
  is), so any text is carried verbatim.
"""

from __future__ import annotations

import re

from erralert.channels.dialects.controls import strip_controls
from erralert.channels.dialects.html import html_code, html_text
from erralert.channels.dialects.tokens import BARE_LINK, MENTION_WORD, may_hold_tokens, tokens

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = True
CODE_BLOCKS = True

_TOKENS = tokens(BARE_LINK, MENTION_WORD)


def escape(text: str) -> str:
    text = strip_controls(text)
    out: list[str] = []
    pos = 0
    for match in _TOKENS.finditer(text) if may_hold_tokens(text) else ():
        out.append(html_text(text[pos : match.start()]))
        out.append(f"<code>{html_text(match.group())}</code>")
        pos = match.end()
    out.append(html_text(text[pos:]))
    return "".join(out)


def code(text: str) -> str:
    return html_code(strip_controls(text))


def span(text: str) -> str:
    text = strip_controls(text)
    return f"<code>{html_code(text)}</code>" if text else ""


def block(text: str, language: str = "") -> str:
    text = html_code(strip_controls(text))
    if re.fullmatch(r"[\w+#.-]{1,32}", language):
        return f'<pre><code class="language-{language}">{text}</code></pre>'
    return f"<pre>{text}</pre>"
