"""HTML text, for the platforms whose markup is a subset of HTML (Telegram, Google Chat
cards): every character that could start a tag or an entity as a character reference."""

from __future__ import annotations

__all__ = ["html_text"]

# the single quote is left alone: templates quote attributes with ", and Telegram documents
# only &lt; &gt; &amp; &quot; among named entities
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def html_text(text: str) -> str:
    """``text`` as HTML text: ``&``, ``<``, ``>`` and ``"`` as entities."""
    return text.translate(_HTML)
