"""HTML subsets (Telegram's, Google Chat card text) as safe HTML, and the reader of their
tags, linear in time on any text.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from erralert.inbox.markup.safe import esc

__all__ = ["Opener", "Tag", "TagReader", "html_subset", "tags"]

_ATTR = re.compile(r"([\w-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")
# makes a kept tag's safe opening from its attributes: (the opening HTML, the tag it opened)
Opener = Callable[[dict[str, str]], tuple[str, str]]
_TAG_NAME = re.compile(r"[A-Za-z][\w-]*")
_ATTR_NAME = re.compile(r"[\w-]+")
_SPACES = re.compile(r"\s*")
_UNQUOTED = re.compile(r"[^\s>]+")


@dataclass(frozen=True, slots=True)
class Tag:
    """One tag found by ``TagReader``: ``text[start:end]``."""

    start: int
    end: int
    closing: bool
    name: str
    attrs: str  # the attributes as written, for ``attributes()``


class TagReader:
    """The tags of one text, read as ``<name attr attr=value attr="v" attr='v'>`` (``/>``
    too when ``self_closing``), the way a backtracking pattern would read them, in linear
    time over every tag of the text.

    A quoted value may also be read unquoted (``x="a"b``), so a regular expression of this
    grammar backtracks through both readings of every attribute: exponential on an
    unclosed tag of many attributes, quadratic on many unclosed tags. Here the positions
    where attributes are read are states; each state is explored once per text, and what
    it led to (the tag's end, or nothing) is remembered for every later ``<``."""

    def __init__(self, text: str, *, self_closing: bool = True) -> None:
        self.text = text
        self.self_closing = self_closing
        self._outcomes: dict[int, tuple[int, int] | None] = {}

    def at(self, start: int) -> Tag | None:
        """The tag opening at ``text[start]`` (a ``<``), or None."""
        closing = self.text.startswith("/", start + 1)
        name = _TAG_NAME.match(self.text, start + 1 + closing)
        if name is None:
            return None
        found = self._attributes_end(name.end())
        if found is None:
            return None
        attrs_end, end = found
        return Tag(start, end, closing, name.group(), self.text[name.end() : attrs_end])

    def _attributes_end(self, first: int) -> tuple[int, int] | None:
        """From a state (just after the name or an attribute): where the attributes end
        and where the tag ends, exploring the readings depth first in the pattern's order."""
        frames: list[tuple[int, list[int]]] = []
        state: int | None = first
        while True:
            if state is not None:
                if state in self._outcomes:
                    outcome = self._outcomes[state]
                    if outcome is not None:
                        return self._remember(frames, outcome)
                else:
                    end = self._end_at(state)
                    if end is not None:
                        return self._remember(frames, (state, end))
                    frames.append((state, self._next_states(state)))
            while frames and not frames[-1][1]:
                self._outcomes[frames.pop()[0]] = None
            if not frames:
                return None
            state = frames[-1][1].pop(0)

    def _remember(
        self, frames: list[tuple[int, list[int]]], outcome: tuple[int, int]
    ) -> tuple[int, int]:
        for state, _ in frames:
            self._outcomes[state] = outcome
        return outcome

    def _end_at(self, state: int) -> int | None:
        """Where the tag ends when it closes at ``state`` (``\\s*/?>``), else None."""
        pos = _SPACES.match(self.text, state).end()  # type: ignore[union-attr]
        if self.text.startswith(">", pos):
            return pos + 1
        if self.self_closing and self.text.startswith("/>", pos):
            return pos + 2
        return None

    def _next_states(self, state: int) -> list[int]:
        """The states after one more attribute, in the pattern's order of preference."""
        text = self.text
        pos = _SPACES.match(text, state).end()  # type: ignore[union-attr]
        name = _ATTR_NAME.match(text, pos) if pos > state else None
        if name is None:
            return []
        equals = _SPACES.match(text, name.end()).end()  # type: ignore[union-attr]
        if not text.startswith("=", equals):
            return [name.end()]
        value = _SPACES.match(text, equals + 1).end()  # type: ignore[union-attr]
        states: list[int] = []
        if text[value : value + 1] in ("'", '"'):
            close = text.find(text[value], value + 1)
            if close >= 0:
                states.append(close + 1)
        unquoted = _UNQUOTED.match(text, value)
        if unquoted is not None:
            states.append(unquoted.end())
        return states


def tags(text: str, *, self_closing: bool = True) -> Iterator[Tag]:
    """Every tag of ``text``, left to right (what is not a tag is text)."""
    reader = TagReader(text, self_closing=self_closing)
    pos = text.find("<")
    while pos >= 0:
        tag = reader.at(pos)
        pos = text.find("<", pos + 1 if tag is None else tag.end)
        if tag is not None:
            yield tag


def _attrs(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTR.finditer(text):
        value = match.group(2) or match.group(3) or match.group(4) or ""
        found[match.group(1).lower()] = html.unescape(value)
    return found


def html_subset(
    text: str,
    allowed: dict[str, tuple[str, Opener | None]],
    *,
    void: frozenset[str] = frozenset(),
    plain: Callable[[str], str] = esc,
) -> str:
    """``text`` in a platform's HTML subset as safe HTML. ``allowed`` maps a tag name to the
    tag written instead and, optionally, a function making its safe opening tag from the
    attributes (links, colours). Other tags are shown as text; tags left open are closed;
    a stray closing tag is dropped. Entities are decoded, then escaped again, by ``plain``
    outside ``<code>`` and ``<pre>`` (where a platform may find links and mentions in
    text by itself) and by ``esc`` inside them."""

    def text_of(segment: str) -> str:
        inside_code = opened_names["code"] + opened_names["pre"] > 0
        return (esc if inside_code else plain)(html.unescape(segment))

    out: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag in the text, tag written), innermost last
    # how many of each name the stack holds: asked at every tag, and a walk of the stack
    # each time made a text of many unclosed tags quadratic
    opened_names: Counter[str] = Counter()
    pos = 0
    for tag in tags(text):
        out.append(text_of(text[pos : tag.start]))
        pos = tag.end
        name = tag.name.lower()
        spec = allowed.get(name)
        if spec is None:
            out.append(esc(text[tag.start : tag.end]))
            continue
        written, opener = spec
        if name == "pre":  # a block breaks the lines around it itself (see mrkdwn)
            if tag.closing:
                pos += text.startswith("\n", pos)
            elif out:
                out[-1] = out[-1].removesuffix("\n")
        if name in void:
            out.append(f"<{written}>")
        elif not tag.closing:
            opening, opened = opener(_attrs(tag.attrs)) if opener else (f"<{written}>", written)
            out.append(opening)
            stack.append((name, opened))
            opened_names[name] += 1
        elif opened_names[name]:
            while stack:
                open_name, opened = stack.pop()
                opened_names[open_name] -= 1
                out.append(f"</{opened}>")
                if open_name == name:
                    break
    out.append(text_of(text[pos:]))
    out.extend(f"</{opened}>" for _, opened in reversed(stack))
    return "".join(out)
