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

from erralert.dialects.commonmark import (
    Markdown,
    break_out_code,
    escape_markdown,
    fenced_block,
    one_span_per_line,
)
from erralert.dialects.controls import strip_controls
from erralert.dialects.tokens import BARE_LINK, MENTION_WORD, tokens

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


def code(text: str) -> str:
    return break_out_code(strip_controls(text), _BREAKS, escape)


def span(text: str) -> str:
    text = strip_controls(text)
    shown = _span(text)
    return escape(text) if shown is None else shown


def block(text: str, language: str = "") -> str:
    text = strip_controls(text)
    if "```" in text:
        return one_span_per_line(text, span, "\n")
    return fenced_block(text, language)
