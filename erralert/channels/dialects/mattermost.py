"""Mattermost markdown (the post's text and its attachments' text).

The rules, from Mattermost's "Format messages" and its renderer (a fork of marked, GFM):

- A backslash escapes ``\\ ` * { } [ ] ( ) # + - . ! _ > ~ |`` (marked's list): those get
  it. Any other character that needs escaping gets an HTML character reference
  (``&lt;``, ``&#61;``, ``&#32;``), which the renderer keeps as an entity for the browser
  to show as the character.
- ``@channel``, ``@all``, ``@here`` and ``@name`` notify, and have no escape; mentions
  inside code spans and code blocks notify nobody (the server strips code before looking
  for them). So an ``@`` word is shown as an inline code span, as are bare URLs, ``www.``
  names and mail addresses, which GFM links by itself.
- Slack-compatible webhooks turn ``<!channel>`` and ``<@id>`` into mentions, so a ``<``
  before a letter, ``/``, ``!``, ``?``, ``@`` or ``#`` is escaped (raw HTML and
  ``<autolinks>`` start the same way). Nothing says the conversion spares code, so text
  holding ``<!`` or ``<@`` is never put in a code span or block.
- Emphasis, links, entities and block structure follow CommonMark and GFM (tables,
  strikethrough, fenced code of any length, indented code).
"""

from __future__ import annotations

import re

from erralert.channels.dialects.commonmark import (
    CodeMarkup,
    Markdown,
    charref,
    code_functions,
    commonmark_span,
    escape_markdown,
)
from erralert.channels.dialects.tokens import BARE_LINK, MENTION_WORD, tokens

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "block", "code", "escape", "span"]

CODE_SPANS = True
CODE_BLOCKS = True

_ESCAPABLE = frozenset("\\`*{}[]()#+-.!_>~|")


def _escape_char(char: str) -> str:
    return "\\" + char if char in _ESCAPABLE else charref(char)


_MARKDOWN = Markdown(
    escape_char=_escape_char,
    span=commonmark_span,
    tokens=tokens(BARE_LINK, MENTION_WORD),
    angle=re.compile(r"<(?=[A-Za-z/!?@#])"),
)
_SLACK_MENTION = re.compile("<[!@]")
_BREAKS = re.compile("`+|\n|<[!@]")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN)


def _span(text: str) -> str | None:
    return None if _SLACK_MENTION.search(text) else commonmark_span(text)


code, span, block = code_functions(
    escape, CodeMarkup(_span, _BREAKS, refuse_block=lambda text: bool(_SLACK_MENTION.search(text)))
)
