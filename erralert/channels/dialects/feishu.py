"""Feishu / Lark card markdown (the card's rich text element, ``{"tag": "markdown"}``).

The rules, from Feishu's rich text component documentation (富文本组件):

- Special characters are shown by their HTML character references (the documentation's
  table of escapes: ``&#42;`` for ``*``, ``&lt;`` for ``<``, ``&#35;`` for ``#`` …), so
  those are the escape, wherever a construct could actually form.
- ``<at id=all></at>``, ``<at id=…>`` and ``<at email=…>`` mention; they need a raw
  ``<``, escaped in prose. Text holding ``<at`` is never put in code (nothing says Feishu
  ignores it there).
- Bare URLs, ``www.`` names and mail addresses are shown as code spans.
- Inline code takes one backtick (one line); code blocks take ```` ```lang ````: a text
  holding a backtick is escaped prose instead of a span, and a text holding
  ```` ``` ```` becomes one code span per line.
"""

from __future__ import annotations

import re

from erralert.channels.dialects.commonmark import (
    CodeMarkup,
    Markdown,
    charref,
    code_functions,
    escape_markdown,
)
from erralert.channels.dialects.tokens import BARE_LINK, tokens

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = True
CODE_BLOCKS = True

_MENTION = re.compile(r"<at\b", re.IGNORECASE)


def _span(text: str) -> str | None:
    if "`" in text or "\n" in text or _MENTION.search(text):
        return None
    return f"`{text}`" if text else ""


_MARKDOWN = Markdown(escape_char=charref, span=_span, tokens=tokens(BARE_LINK))
_BREAKS = re.compile("`+|\n|(?i:<at\\b)")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN)


code, span, block = code_functions(
    escape,
    CodeMarkup(
        _span, _BREAKS, refuse_block=lambda text: "```" in text or bool(_MENTION.search(text))
    ),
)
