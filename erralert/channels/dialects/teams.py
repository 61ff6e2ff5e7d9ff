"""Microsoft Teams: markup for erralert's own reader of the card text.

The Teams channel never hands the body to Teams' markdown. A TextBlock's markdown has no
code spans and no reliable escapes ("Text features in Adaptive Cards": bold, italic,
lists and links only), while the TextRuns of a RichTextBlock are shown as written:
"RichTextBlock does not support Markdown". So the channel reads the body itself
(``erralert.channels.teams_text``: ``**bold**``, ``_italic_``, CommonMark code spans,
``` fences, ``-`` lists, backslash escapes) and sends TextRuns. The rules here are that
reader's:

- A backslash before ASCII punctuation is that character, meaning nothing; the reader
  consumes it, so no escape reaches the payload. Untrusted text escapes every character
  the reader treats as markup, wherever it is (a value can sit next to the template's
  own ``_`` or ``**``): ``\\``, `````, ``*`` and ``_``; and, at the start of a line, the
  ``-``, ``+`` and ``~`` that would make a list item or a fence.
- Code spans and fences are CommonMark's, their text carried verbatim: the span's
  backtick fence is longer than any run inside, a block's fence longer than any run in
  the block.
- Mentions: Teams mentions only with ``<at>…</at>`` in a TextBlock plus a matching
  ``msteams.entities`` entry, which the channel writes for configured people alone; a
  TextRun is never parsed, so untrusted text cannot form one, nor a link.
"""

from __future__ import annotations

import re

from erralert.channels.dialects.commonmark import CodeMarkup, code_functions, commonmark_span
from erralert.channels.dialects.controls import strip_controls

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = True
CODE_BLOCKS = True

_MARKUP = re.compile(r"[\\`*_]")
# a list marker or a fence at a line start (backticks and "*" are escaped anywhere)
_LINE_START = re.compile(r"^( *)([-+~])", re.MULTILINE)
_BREAKS = re.compile("`+|\n")


def escape(text: str) -> str:
    text = _MARKUP.sub(r"\\\g<0>", strip_controls(text))
    return _LINE_START.sub(r"\1\\\2", text)


code, span, block = code_functions(escape, CodeMarkup(commonmark_span, _BREAKS))
