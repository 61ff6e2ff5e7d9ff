"""WeCom (企业微信) group robot markdown (``markdown.content``).

The rules, from WeCom's "群机器人配置说明":

- The documented subset is ``#`` headings, ``**bold**``, ``[links](url)``, `` `inline code` ``
  (one line: "暂不支持跨行"), ``>`` quotes and ``<font color="info|comment|warning">``. The
  text is HTML underneath, so HTML character references are the escape.
- ``<@userid>`` in the content mentions a member: its ``<`` is escaped in prose, and text
  holding ``<@`` is never put in a code span (nothing says WeCom ignores it there).
- Bare URLs, ``www.`` names and mail addresses are shown as code spans.
- No code blocks: a code block is one code span per line (WeCom keeps a single line
  break).
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
CODE_BLOCKS = False

_MENTION = re.compile(r"<@")


def _span(text: str) -> str | None:
    if "`" in text or "\n" in text or _MENTION.search(text):
        return None
    return f"`{text}`" if text else ""


_MARKDOWN = Markdown(
    escape_char=charref,
    span=_span,
    tokens=tokens(BARE_LINK),
    angle=re.compile(r"<(?=[A-Za-z/!?@])"),
)
_BREAKS = re.compile("`+|\n|<@")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN)


code, span, block = code_functions(escape, CodeMarkup(_span, _BREAKS, blocks=False))
