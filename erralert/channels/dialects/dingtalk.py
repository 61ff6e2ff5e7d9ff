"""DingTalk robot markdown (``markdown.text``, ``actionCard.text``).

The rules, from DingTalk's "custom robot message types" (自定义机器人消息类型):

- The documented subset is headings, ``>`` quotes, ``**bold**``, ``*italic*``,
  ``[links](url)``, ``![images](url)`` and ``-``/``1.`` lists; ``<font color>`` is
  rendered too, so the text is HTML underneath. No backslash escapes are documented:
  HTML character references are the escape (``&#42;``, ``&lt;``), and a backslash that
  CommonMark would read as an escape is written ``&#92;``, which shows a backslash
  whether or not DingTalk honours backslash escapes.
- Mentions happen only through the ``at`` field: an ``@`` in the text names nobody and is
  left alone.
- No code spans or code blocks are documented: a code span is escaped prose, and a code
  block is its lines as escaped prose, one per line, joined by Markdown's hard line
  break (two spaces before the line break): DingTalk does not keep a single line break.
- Bare URLs and ``www.`` names are broken by a character reference for their ``:`` or
  ``.``.
"""

from __future__ import annotations

from erralert.channels.dialects.commonmark import (
    Markdown,
    charref,
    escape_markdown,
    one_span_per_line,
)
from erralert.channels.dialects.controls import strip_controls

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = False
CODE_BLOCKS = False

_MARKDOWN = Markdown(escape_char=charref)
LINE_BREAK = "  \n"


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN)


def code(text: str) -> str:
    return escape(text)


def span(text: str) -> str:
    return escape(text)


def block(text: str, language: str = "") -> str:
    return one_span_per_line(strip_controls(text), escape, LINE_BREAK)
