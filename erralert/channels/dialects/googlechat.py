"""Google Chat card text (``textParagraph`` and ``decoratedText``: a subset of HTML).

The rules, from Google Chat's "Format messages" (cards: ``<b> <i> <u> <s> <font color>
<a href> <br>``):

- The text is HTML: ``&``, ``<``, ``>`` and ``"`` are written as entities, so no tag and no
  mention (``<users/all>`` is text-message syntax, and needs a raw ``<``) can form.
- There is no code element, so a code span or block is escaped text; the channel turns
  line breaks into ``<br>``.
- Chat links bare URLs, ``www.`` names and mail addresses by itself: their ``:``, ``.`` or
  ``@`` is written as a character reference (``&#58;``), the only escape the platform
  has. Whether Chat links the text before or after decoding references is not
  documented.
"""

from __future__ import annotations

import re

from erralert.channels.dialects.controls import strip_controls
from erralert.channels.dialects.html import html_text
from erralert.channels.dialects.tokens import may_hold_tokens

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = False
CODE_BLOCKS = False

_LINK_CHAR = re.compile(
    r"(?<=[A-Za-z0-9+.-]):(?=//)|(?<![\w.-])([wW]{3})\.(?=\w)|(?<=[\w.+-])@(?=[A-Za-z0-9-]+\.)"
)


def _reference(match: re.Match[str]) -> str:
    text = match.group()
    return f"{match.group(1)}&#46;" if match.group(1) else f"&#{ord(text)};"


def escape(text: str) -> str:
    text = html_text(strip_controls(text))
    return _LINK_CHAR.sub(_reference, text) if may_hold_tokens(text) else text


def code(text: str) -> str:
    return escape(text)


def span(text: str) -> str:
    return escape(text)


def block(text: str, language: str = "") -> str:
    return escape(text)
