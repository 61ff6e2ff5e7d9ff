"""Microsoft Teams Adaptive Card text (a TextBlock's markdown subset).

The rules, from "Text features in Adaptive Cards" (TextBlock markdown: ``**bold**``,
``_italic_``, ``-``/``1.`` lists, ``[links](url)``; no headings, no code spans):

- As on DingTalk, HTML character references are the escape, wherever a construct could
  actually form, and a backslash that would escape something is written ``&#92;``.
- A mention fires only with ``<at>…</at>`` and a matching ``msteams.entities`` entry,
  which erralert writes only for configured owners; ``<`` before a tag name is escaped
  all the same.
- No code spans: a code span is escaped prose. A code block is the channel's convention,
  a ```` ``` ```` fence whose lines it shows one TextBlock each in a monospace font (the
  lines still parsed as markdown, so escaped).
"""

from __future__ import annotations

from erralert.dialects.commonmark import Markdown, charref, escape_markdown, longest_run
from erralert.dialects.controls import strip_controls

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = False
CODE_BLOCKS = True

_MARKDOWN = Markdown(escape_char=charref)


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN)


def code(text: str) -> str:
    return escape(text)


def span(text: str) -> str:
    return escape(text)


def block(text: str, language: str = "") -> str:
    text = strip_controls(text)
    # every line is escaped, so no line of the text can be a fence; the fence is the
    # channel's marker of a monospace block
    fence = "`" * max(3, longest_run(text) + 1)
    lines = "\n".join(escape(line) for line in text.split("\n"))
    return f"{fence}\n{lines}\n{fence}"
