"""Discord markdown (message content, embed descriptions, field values and titles).

The rules, from Discord's "Markdown Text 101" and the simple-markdown rules its client
parses with:

- A backslash before any ASCII punctuation shows that character as itself (``\\*``, ``\\_``,
  ``\\<``, ``\\:``), so formatting characters get the platform's own escape, and a
  backslash that would escape something is doubled (``C:\\Users`` stays as it is).
- Bold ``**``, underline ``__``, strike ``~~`` and spoiler ``||`` pair any two runs, with
  no flanking rules: a run is escaped when another run of its character could pair with
  it. A single ``_`` needs a word boundary (JavaScript's, ASCII) outside it, so
  ``checkout_failed`` stays as written.
- ``<@id>``, ``<@&role>``, ``<#channel>``, ``<t:…>``, ``<:emoji:id>``, ``</cmd:id>`` and
  ``<https://…>`` need a raw ``<``: it is escaped. ``allowed_mentions: {"parse": []}`` is
  sent with every message, so nothing pings; ``@everyone`` and ``@here`` are escaped
  all the same, so they do not show as mentions.
- A bare ``https://`` URL is linked: its ``:`` is escaped.
- Block markers at a line start: ``#`` to ``###`` headings, ``-#`` subtext, ``>`` and
  ``>>>`` quotes, ``-``/``*``/``1.`` list items. No tables, no indented code.
- Inline code takes any number of backticks (``` ``a`b`` ```), with one space stripped
  next to a backtick at either end; code blocks take exactly ```` ``` ````, so a text
  holding ```` ``` ```` becomes one code span per line. Inside code nothing is parsed.
"""

from __future__ import annotations

import re

from erralert.channels.dialects.commonmark import (
    ASCII_PUNCTUATION,
    CodeMarkup,
    Markdown,
    code_functions,
    escape_markdown,
    longest_run,
)

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = True
CODE_BLOCKS = True


def _backslash(char: str) -> str | None:
    return "\\" + char if char in ASCII_PUNCTUATION else None


def _span(text: str) -> str | None:
    # "```" anywhere makes a code block on Discord (no CommonMark fence rules)
    if "\n" in text or "```" in text:
        return None
    if not text:
        return ""
    fence = "`" * (longest_run(text) + 1)
    # Discord strips one space only where it stands next to a backtick of the text
    head = " " if text[0] == "`" else ""
    tail = " " if text[-1] == "`" else ""
    return f"{fence}{head}{text}{tail}{fence}"


_MARKDOWN = Markdown(
    escape_char=_backslash,
    span=_span,
    emphasis="*_~|",
    pairing="discord",
    angle=re.compile(r"<(?=[@#:/!&A-Za-z])"),
    entities=False,  # "&amp;" shows as written
    indented_code=False,
    tables=False,
    www_links=False,
    email_links=False,
    escaped_mentions=re.compile(r"@(?=(?:everyone|here)\b)"),
    subtext=True,
)
# a line break too: each line of a message is its own paragraph in some clients
_BACKTICKS = re.compile("`+|\n")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN)


# Discord ends a block at the first ``` whatever the opening fence's length
code, span, block = code_functions(
    escape, CodeMarkup(_span, _BACKTICKS, refuse_block=lambda text: "```" in text)
)
