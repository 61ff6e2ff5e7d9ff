"""Plain text (the console, the generic JSON webhook): nothing is markup, but control
characters still go."""

from __future__ import annotations

from erralert.channels.dialects import Dialect
from erralert.channels.dialects.controls import strip_controls

__all__ = ["CODE_BLOCKS", "CODE_SPANS", "DIALECT", "block", "code", "escape", "span"]

CODE_SPANS = False
CODE_BLOCKS = False


def escape(text: str) -> str:
    return strip_controls(text)


def code(text: str) -> str:
    return strip_controls(text)


def span(text: str) -> str:
    return strip_controls(text)


def block(text: str, language: str = "") -> str:
    return strip_controls(text)


DIALECT = Dialect.of(
    "plain",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
