"""Rocket.Chat markdown (@rocket.chat/message-parser: the message's text and attachments).

The rules, from the parser and Rocket.Chat's issues:

- A backslash escapes exactly ``* _ ~ ` # .`` (RocketChat/fuselage#899, "escaping only
  necessary characters"); before anything else it is shown as it is. A character that
  needs escaping and has no escape (a ``>`` or ``-`` that would start a quote or a list,
  a ``[`` of a link, a live backslash) is shown as a code span of its own.
- ``@all``, ``@here`` and ``@name`` notify and have no escape; mentions inside inline code
  notify nobody (RocketChat/Rocket.Chat#7759, fixed). So ``@`` words are shown as code
  spans, as are bare URLs, ``www.`` names, mail addresses and whole ``[label](url)``
  links.
- Single ``*`` is bold, ``_`` italic, ``~`` strike. No raw HTML, no entities, no tables, no
  indented code.
- Inline code takes one backtick and cannot hold one, nor a line break; fenced blocks take
  ```` ``` ````, so a text holding ```` ``` ```` becomes one code span per line.
"""

from __future__ import annotations

import re

from erralert.channels.dialects.commonmark import (
    CodeMarkup,
    Markdown,
    code_functions,
    escape_markdown,
)
from erralert.channels.dialects.tokens import BARE_LINK, MENTION_WORD, tokens

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = True
CODE_BLOCKS = True

_ESCAPABLE = frozenset("*_~`#.")
_LINK = r"!?\[[^\[\]\n]*\]\([^()\s]*\)"


def _escape_char(char: str) -> str | None:
    return "\\" + char if char in _ESCAPABLE else None


def _span(text: str) -> str | None:
    if "`" in text or "\n" in text:
        return None
    return f"`{text}`" if text else ""


_MARKDOWN = Markdown(
    escape_char=_escape_char,
    span=_span,
    tokens=tokens(_LINK, BARE_LINK, MENTION_WORD),
    angle=re.compile(r"(?!)"),  # no raw HTML, no <autolinks>
    entities=False,
    indented_code=False,
    tables=False,
)
_BREAKS = re.compile("`+|\n")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN)


# Rocket.Chat ends a block at the first ``` whatever the opening fence's length
code, span, block = code_functions(
    escape, CodeMarkup(_span, _BREAKS, refuse_block=lambda text: "```" in text)
)
