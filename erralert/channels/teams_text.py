"""Teams card text: the templates' markdown subset as Adaptive Card rich text.

Teams reads a TextBlock's text as its own markdown (bold, italic, lists, links), which has
no code spans, no reliable escapes, and keeps line breaks only inside lists. The TextRuns
of a RichTextBlock are never parsed ("RichTextBlock does not support Markdown", Adaptive
Cards "Text features"; both need schema 1.2): a run shows its text as written. So erralert
reads the body's markdown itself and writes runs:

- ``**bold**`` is a run of weight Bolder, ``_italic_`` an italic run;
- a code span (CommonMark's: a run of n backticks closed by the next run of exactly n) is a
  monospace run, its text as written;
- a ``` or ~~~ fence makes one monospace RichTextBlock per line, the indentation kept as
  no-break spaces (the renderer collapses leading spaces);
- a list item (``-``, ``*`` or ``+`` and a space at the start of a line) becomes
  ``• item``;
- a blank line leaves a gap before the next block; lines that follow each other sit tight;
- a backslash before ASCII punctuation is that character, meaning nothing;
- everything else is text, as written.

The ``teams`` dialect (``erralert.channels.teams``) escapes untrusted text for this reader,
so every character of an error reaches a run as written and no escape reaches the reader.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

__all__ = ["inline_runs", "rich_text_blocks"]

_PUNCTUATION = frozenset(string.punctuation)
# a fence of the template's: 3+ backticks (whose info string holds none) or 3+ tildes
_FENCE = re.compile(r" {0,3}(?:(`{3,})[^`]*|(~{3,}).*)")
_ITEM = re.compile(r" {0,3}[-*+][ \t]+")
_INDENT = re.compile(r"^ +")
_BULLET = "• "
_NBSP = "\u00a0"


def rich_text_blocks(body: str) -> list[dict[str, Any]]:
    """RichTextBlocks for a markdown body: one per line, a fenced block's lines in a
    monospace font. The first block, and a block after a blank line or a fence, keeps the
    default spacing; the others get ``"spacing": "None"``."""
    blocks: list[dict[str, Any]] = []
    gap = False  # a blank line (or a fence) came before the next block
    fence: str | None = None  # the open fence's marker, e.g. "```"
    for line in body.split("\n"):
        if fence is None:
            opened = _FENCE.fullmatch(line)
            if opened:
                fence, gap = opened.group(1) or opened.group(2), True
                continue
        else:
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence, gap = None, True
            elif stripped:
                text = _INDENT.sub(lambda m: _NBSP * len(m.group()), line.rstrip())
                blocks.append(_block([_run(text, mono=True)], gap or not blocks))
                gap = False
            continue
        if not line.strip():
            gap = True
            continue
        item = _ITEM.match(line)
        runs = inline_runs(line[item.end() :] if item else line)
        if item:
            runs = _merged([_run(_BULLET), *runs])
        if runs:
            blocks.append(_block(runs, gap or not blocks))
            gap = False
    return blocks


@dataclass(slots=True)
class _Atom:
    """A piece of one line: text, a code span's text, or an emphasis delimiter."""

    text: str
    code: bool = False
    delimiter: str = ""  # "**" or "_"
    opens: bool = False
    closes: bool = False
    paired: bool = False
    bold: int = 0
    italic: int = 0


def inline_runs(text: str) -> list[dict[str, Any]]:
    """TextRuns for one line of inline markdown: code spans, ``**bold**``, ``_italic_``
    and backslash escapes read, everything else as written; neighbouring runs of the
    same style merged."""
    atoms = _atoms(text)
    _pair(atoms)
    runs = [
        _run(atom.text, bold=atom.bold > 0, italic=atom.italic > 0, mono=atom.code)
        for atom in atoms
        if atom.text and not atom.paired
    ]
    return _merged(runs)


def _atoms(text: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            atoms.append(_Atom("".join(plain)))
            plain.clear()

    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char == "\\" and i + 1 < end and text[i + 1] in _PUNCTUATION:
            plain.append(text[i + 1])  # escaped: a character, never markup
            i += 2
            continue
        if char not in "`*_":
            plain.append(char)
            i += 1
            continue
        j = i + 1
        while j < end and text[j] == char:
            j += 1
        run = text[i:j]
        if char == "`":
            close = _closing_backticks(text, j, len(run))
            if close < 0:
                plain.append(run)  # no closing run: the backticks are text
            else:
                flush()
                atoms.append(_Atom(_span_text(text[j:close]), code=True))
                j = close + len(run)
        elif run in ("**", "_"):
            before = text[i - 1] if i > 0 else " "
            after = text[j] if j < end else " "
            opens, closes = _flanks(run, before, after)
            if opens or closes:
                flush()
                atoms.append(_Atom(run, delimiter=run, opens=opens, closes=closes))
            else:
                plain.append(run)
        else:
            plain.append(run)  # "*", "***", "__": no construct of this subset
        i = j
    flush()
    return atoms


def _closing_backticks(text: str, start: int, size: int) -> int:
    """Where the next run of exactly ``size`` backticks from ``start`` begins, or -1.
    Inside a code span a backslash is text: it escapes nothing."""
    i = text.find("`", start)
    while i >= 0:
        j = i + 1
        while j < len(text) and text[j] == "`":
            j += 1
        if j - i == size:
            return i
        i = text.find("`", j)
    return -1


def _span_text(content: str) -> str:
    # CommonMark: one space is stripped from each end when both have one and the text is
    # not all spaces (so that a span can start or end with a backtick)
    if len(content) >= 2 and content[0] == content[-1] == " " and content.strip(" "):
        return content[1:-1]
    return content


def _flanks(delimiter: str, before: str, after: str) -> tuple[bool, bool]:
    """Whether a delimiter between ``before`` and ``after`` can open and close emphasis:
    ``**`` opens before a non-space and closes after one; ``_`` also needs no letter or
    digit outside it (``snake_case`` pairs nothing)."""
    opens = not after.isspace()
    closes = not before.isspace()
    if delimiter == "_":
        opens = opens and not before.isalnum()
        closes = closes and not after.isalnum()
    return opens, closes


def _pair(atoms: list[_Atom]) -> None:
    """Pair each closing delimiter with the latest open one of its kind (openers between
    them stay text), and mark the atoms between a pair bold or italic."""
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for k, atom in enumerate(atoms):
        if not atom.delimiter:
            continue
        if atom.closes:
            match = next(
                (
                    n
                    for n in range(len(stack) - 1, -1, -1)
                    if atoms[stack[n]].delimiter == atom.delimiter
                ),
                None,
            )
            if match is not None:
                opener = stack[match]
                del stack[match:]
                pairs.append((opener, k))
                continue
        if atom.opens:
            stack.append(k)
    for opener, closer in pairs:
        atoms[opener].paired = atoms[closer].paired = True
        for atom in atoms[opener + 1 : closer]:
            if atoms[opener].delimiter == "**":
                atom.bold += 1
            else:
                atom.italic += 1


def _run(
    text: str, *, bold: bool = False, italic: bool = False, mono: bool = False
) -> dict[str, Any]:
    run: dict[str, Any] = {"type": "TextRun", "text": text}
    if bold:
        run["weight"] = "Bolder"
    if italic:
        run["italic"] = True
    if mono:
        run["fontType"] = "Monospace"
    return run


def _merged(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neighbouring runs of the same style as one run."""
    out: list[dict[str, Any]] = []
    for run in runs:
        if out and {**out[-1], "text": ""} == {**run, "text": ""}:
            out[-1] = {**out[-1], "text": out[-1]["text"] + run["text"]}
        else:
            out.append(run)
    return out


def _block(runs: list[dict[str, Any]], spaced: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "RichTextBlock", "inlines": runs}
    if not spaced:
        block["spacing"] = "None"
    return block
