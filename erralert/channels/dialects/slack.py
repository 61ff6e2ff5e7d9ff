"""Slack mrkdwn (section, context and attachment text; the message's ``text``).

The rules, from Slack's "Formatting text for app surfaces":

- Slack documents exactly three escapes, ``&amp;`` ``&lt;`` ``&gt;``, and decodes no other
  entity. They apply everywhere, code included. Every control sequence (``<!channel>``,
  ``<!here>``, ``<@U…>``, ``<#C…>``, ``<http://…|label>``) starts with a raw ``<``, so with
  ``<`` escaped none can form.
- A plain ``@channel`` or ``@name`` is text: names are linked only with ``link_names``,
  which erralert never sends (nor ``parse: full``).
- ``*bold*``, ``_italic_``, ``~strike~`` and `` `code` `` have no escape. A word pair that
  would format is shown as an inline code span (same characters, no formatting).
- Bare URLs, ``www.`` names and mail addresses are linked by the client: they are shown as
  code spans too.
- Code spans take a single backtick and cannot hold one, nor a line break; a code block
  cannot hold ```` ``` ````. Text that needs those is shown as prose. A backtick has no
  escape at all in mrkdwn: it is left as it is (erralert never substitutes a look-alike).
"""

from __future__ import annotations

import bisect
import re

from erralert.channels.dialects.commonmark import break_out_code, one_span_per_line
from erralert.channels.dialects.controls import strip_controls
from erralert.channels.dialects.tokens import BARE_LINK, may_hold_tokens

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = True
CODE_BLOCKS = True

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# what Slack formats: a delimiter not inside a word, content on one line
_FORMATTING = re.compile(
    r"(?<![\w*])\*[^*\n]+\*(?![\w*])|(?<![\w_])_[^_\n]+_(?![\w_])|(?<![\w~])~[^~\n]+~(?![\w~])"
)
_LINKS = re.compile(BARE_LINK.replace("[^\\s<>]", "[^\\s<>`]"))
_SPACE = re.compile(r"\s")
_NEWLINE = re.compile("\n")
_DELIMITER = re.compile("[*_~]")


def _entities(text: str) -> str:
    return text.translate(_ENTITIES)


def escape(text: str) -> str:
    text = strip_controls(text)
    ranges = [m.span() for m in _LINKS.finditer(text)] if may_hold_tokens(text) else []
    spaces: list[int] | None = None
    pairs = _FORMATTING.finditer(text) if _DELIMITER.search(text) else ()
    for match in pairs:
        if spaces is None:
            spaces = [m.start() for m in _SPACE.finditer(text)]
        # the whole words around the pair, so that no half of a word sits in code
        before = bisect.bisect_left(spaces, match.start())
        after = bisect.bisect_left(spaces, match.end())
        start = spaces[before - 1] + 1 if before else 0
        ranges.append((start, spaces[after] if after < len(spaces) else len(text)))
    if not ranges:
        return _entities(text)
    out: list[str] = []
    pos = 0
    for start, end in sorted(ranges):
        if start < pos:
            start = pos
            if start >= end:
                continue
        piece = text[start:end]
        if "`" in piece:
            continue  # a code span cannot hold it: left as prose
        out.append(_entities(text[pos:start]))
        out.append(f"`{_entities(piece)}`")
        pos = end
    out.append(_entities(text[pos:]))
    return "".join(out)


def code(text: str) -> str:
    # a code span cannot cross a line: closed before each line break, opened after it
    return break_out_code(_entities(strip_controls(text)), _NEWLINE, _entities)


def span(text: str) -> str:
    text = strip_controls(text)
    if not text:
        return ""
    if "`" in text or "\n" in text:
        return escape(text)
    return f"`{_entities(text)}`"


def block(text: str, language: str = "") -> str:
    # mrkdwn's ``` blocks take no language
    text = strip_controls(text)
    if "```" in text:
        return one_span_per_line(text, span, "\n")
    return f"```\n{_entities(text)}\n```"
