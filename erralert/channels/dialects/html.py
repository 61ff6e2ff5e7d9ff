"""HTML text, for the platforms whose markup is a subset of HTML (Telegram, Google Chat
cards): every character that could start a tag or an entity as a character reference."""

from __future__ import annotations

__all__ = ["html_code", "html_text"]

# the single quote is left alone: templates quote attributes with ", and Telegram documents
# only &lt; &gt; &amp; &quot; among named entities
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
# inside <code> and <pre> (never an attribute), only what could start a tag or an entity:
# a code line keeps its quotes as written, for a plain search of the payload to find it
_CODE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def html_text(text: str) -> str:
    """``text`` as HTML text: ``&``, ``<``, ``>`` and ``"`` as entities (safe in an
    attribute a template quotes with ``"`` too)."""
    return text.translate(_HTML)


def html_code(text: str) -> str:
    """``text`` as the content of a code element: ``&``, ``<`` and ``>`` as entities."""
    return text.translate(_CODE)
