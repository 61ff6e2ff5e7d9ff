"""Where a CommonMark-like renderer would find markup in untrusted text, and the escaping
that takes it out of play one character at a time.

The chat platforms that take markdown (Discord, Mattermost, Rocket.Chat, DingTalk, WeCom,
Feishu/Lark, Teams) differ in their escapes, but their parsers share CommonMark's shape:
emphasis needs a pair of delimiter runs that can open and close (the left- and
right-flanking rules of the spec, section 6.2), a link needs ``](`` after its text, raw
HTML and autolinks need ``<`` right before a tag name or a scheme, an entity needs ``&``
before a name and ``;``, and block structure (headings, quotes, lists, fences, tables,
indented code) is decided by the first characters of a line.

So a character is escaped only where such a construct could actually form:
``checkout_failed`` (an underscore between letters opens and closes nothing), ``a * b``
(a star between spaces neither) and ``**kwargs`` (an opener without a closer) stay exactly
as written, while ``*bold*``, ``__init__``, ``[x](http://…)`` and ``# heading`` at a line
start are escaped. The value is analysed as if it stood alone (its ends count as
whitespace), and a few characters are escaped wherever they occur because the template's
own markup around the value could pair with them: backticks and a backslash before
punctuation or at the end.

Tokens that would notify someone or become a link and have no escape on a platform (an
``@channel`` on Mattermost, a bare URL) are shown as inline code spans instead, where the
platform has them: a code span keeps every character and means nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from erralert.channels.dialects.controls import strip_controls
from erralert.channels.dialects.tokens import may_hold_tokens

__all__ = [
    "ASCII_PUNCTUATION",
    "Markdown",
    "backtick_runs",
    "break_out_code",
    "charref",
    "commonmark_span",
    "escape_markdown",
    "fenced_block",
    "longest_run",
    "one_span_per_line",
]

ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_NAMED = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}


def charref(char: str) -> str:
    """``char`` as an HTML character reference: ``&lt;``, ``&#42;``."""
    return _NAMED.get(char) or f"&#{ord(char)};"


@dataclass(frozen=True, slots=True)
class Markdown:
    """What one platform's markdown parses, and how it escapes a character.

    ``escape_char`` escapes one character (a backslash escape or a character reference),
    or returns None where the platform has no escape for it: the character is then shown
    as a code span of its own (``span``), the way a token without an escape is.
    """

    escape_char: Callable[[str], str | None]
    # a complete inline code span carrying the text verbatim, or None where the platform
    # cannot (no code spans at all, a character the span cannot hold)
    span: Callable[[str], str | None] | None = None
    # whole tokens shown as code spans: mentions and bare links that have no escape
    tokens: re.Pattern[str] | None = None
    # the emphasis delimiters, and how they pair: CommonMark's flanking rules, or Discord's
    # regular expressions, under which any two runs of a character can pair
    emphasis: str = "*_~"
    pairing: Literal["flanking", "discord"] = "flanking"
    # a "<" that starts raw HTML, an autolink or a mention tag
    angle: re.Pattern[str] = re.compile(r"<(?=[A-Za-z/!?])")
    # "&name;" and "&#42;" are decoded as characters
    entities: bool = True
    # four spaces (or a tab) at a line start make an indented code block
    indented_code: bool = True
    # GFM tables: a delimiter row of "|" and "-"
    tables: bool = True
    # bare "scheme://" and "www." links, broken by escaping their ":" or "." (where they
    # are not tokens shown as code)
    bare_links: bool = True
    www_links: bool = True
    # mail addresses become mailto: links (GFM's extended autolinks)
    email_links: bool = True
    # words that notify and are escaped by escaping their "@" (Discord's @everyone)
    escaped_mentions: re.Pattern[str] | None = None
    # Discord's "-# subtext" at a line start
    subtext: bool = False


# -- delimiter runs (CommonMark 6.2) --------------------------------------------------------


def _is_space(char: str) -> bool:
    return char.isspace()


def _is_punctuation(char: str) -> bool:
    # Unicode punctuation and symbols count as punctuation for flanking (CommonMark 0.31)
    return char in ASCII_PUNCTUATION or unicodedata.category(char)[0] in "PS"


def _flanking(text: str, start: int, end: int) -> tuple[bool, bool]:
    """Whether the delimiter run ``text[start:end]`` is left- and right-flanking; the ends
    of the text count as whitespace."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    left = not _is_space(after) and (
        not _is_punctuation(after) or _is_space(before) or _is_punctuation(before)
    )
    right = not _is_space(before) and (
        not _is_punctuation(before) or _is_space(after) or _is_punctuation(after)
    )
    return left, right


def backtick_runs(text: str, char: str = "`") -> list[tuple[int, int]]:
    """``(start, end)`` of every maximal run of ``char``."""
    runs: list[tuple[int, int]] = []
    i = text.find(char)
    while i >= 0:
        j = i + 1
        while j < len(text) and text[j] == char:
            j += 1
        runs.append((i, j))
        i = text.find(char, j)
    return runs


def longest_run(text: str, char: str = "`") -> int:
    return max((end - start for start, end in backtick_runs(text, char)), default=0)


def _flanking_pairs(text: str, char: str, marks: set[int]) -> None:
    """Mark every run of ``char`` that could open emphasis closed by a later run, or close
    emphasis opened by an earlier one."""
    runs = backtick_runs(text, char)
    if len(runs) < 2:
        return
    opens: list[bool] = []
    closes: list[bool] = []
    for start, end in runs:
        left, right = _flanking(text, start, end)
        if char == "_":
            before = text[start - 1] if start > 0 else " "
            after = text[end] if end < len(text) else " "
            # an "_" inside a word neither opens nor closes (checkout_failed)
            opens.append(left and (not right or _is_punctuation(before)))
            closes.append(right and (not left or _is_punctuation(after)))
        else:
            opens.append(left)
            closes.append(right)
    first_open = next((i for i, o in enumerate(opens) if o), len(runs))
    last_close = max((i for i, c in enumerate(closes) if c), default=-1)
    for i, (start, end) in enumerate(runs):
        if (opens[i] and i < last_close) or (closes[i] and i > first_open):
            marks.update(range(start, end))


_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _discord_pairs(text: str, char: str, marks: set[int]) -> None:
    """Discord's markdown (simple-markdown's rules): ``**``, ``__``, ``~~`` and ``||`` pair
    any two runs of two, whatever is between them; a single ``*`` opens before a
    non-space and closes after one; a single ``_`` needs a word boundary (JavaScript's,
    ASCII) outside it and pairs with the next single ``_``. A single ``|`` or ``~`` makes
    nothing."""
    runs = backtick_runs(text, char)
    doubles = [(start, end) for start, end in runs if end - start >= 2]
    if len(doubles) >= 2:
        for start, end in doubles:
            marks.update(range(start, end))
    if char in "|~":
        return
    singles = runs if char == "*" else [(s, e) for s, e in runs if e - s == 1]
    opens: list[bool] = []
    closes: list[bool] = []
    for start, end in singles:
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        if char == "*":
            opens.append(not after.isspace())
            closes.append(not before.isspace())
        else:
            opens.append(before not in _ASCII_WORD)
            closes.append(after not in _ASCII_WORD)
    if char == "*":
        first_open = next((i for i, o in enumerate(opens) if o), len(singles))
        last_close = max((i for i, c in enumerate(closes) if c), default=-1)
        live = [
            (opens[i] and i < last_close) or (closes[i] and i > first_open)
            for i in range(len(singles))
        ]
    else:
        live = [False] * len(singles)
        for i in range(len(singles) - 1):
            if opens[i] and closes[i + 1]:
                live[i] = live[i + 1] = True
    for (start, end), is_live in zip(singles, live, strict=True):
        if is_live:
            marks.update(range(start, end))


# -- line starts ----------------------------------------------------------------------------

_DELIMITER_ROW = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")
_ORDERED = re.compile(r"\d{1,9}([.)])(?=[ \t]|$)")
_HEADING = re.compile(r"#{1,6}(?=[ \t]|$)")


def _line_start(text: str, start: int, md: Markdown, marks: set[int]) -> None:
    """Mark what would make the line at ``start`` a block of its own: heading, quote, list
    item, thematic break, setext underline, fence, table row, link definition, indented
    code, Discord's subtext."""
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    line = text[start:end]
    stripped = line.lstrip(" ")
    indent = len(line) - len(stripped)
    if indent >= 4 or stripped.startswith("\t"):
        if md.indented_code:
            marks.add(start)  # the first space (or tab) as a character reference
        return
    if not stripped:
        return
    at = start + indent
    first = stripped[0]
    rest = stripped.rstrip()
    if first == "#" and _HEADING.match(stripped):
        marks.add(at)
    elif first == ">" or first in "[":
        marks.add(at)  # a quote; a link reference definition "[x]: http://…"
    elif first in "-+*" and (len(stripped) == 1 or stripped[1] in " \t"):
        marks.add(at)  # a list item
    elif md.subtext and stripped.startswith("-#"):
        marks.add(at)
    elif first in "-=*_~`" and len(set(rest.replace(" ", "").replace("\t", ""))) == 1:
        marks.add(at)  # a thematic break, a setext underline, a fence
    elif first in "~`" and rest.startswith(first * 3):
        marks.add(at)  # a fence with an info string
    elif first.isdigit() and (ordered := _ORDERED.match(stripped)):
        marks.add(at + ordered.start(1))  # "1. one": the "." goes
    if md.tables and "|" in line and _DELIMITER_ROW.fullmatch(line):
        marks.update(start + i for i, char in enumerate(line) if char == "|")


# -- the escaper ----------------------------------------------------------------------------

_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_LINK_TAIL = re.compile(r"\][(\[:]")
_BRACKET = re.compile(r"\[")
_BACKTICK = re.compile("`")
_LIVE_BACKSLASH = re.compile(r"\\(?=[!-/:-@\[-`{-~\n]|\Z)")
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,31}(:)//", re.ASCII)
_WWW = re.compile(r"(?<![\w.-])[wW]{3}(\.)(?=\w)")
_EMAIL = re.compile(r"[\w.+-](@)[A-Za-z0-9-]+\.[A-Za-z0-9]", re.ASCII)


def escape_markdown(text: str, md: Markdown) -> str:
    """``text`` with every character that could start a construct of ``md`` escaped,
    and its tokens shown as code spans. Control characters are stripped first."""
    text = strip_controls(text)
    if not text:
        return text
    tokens: dict[int, tuple[int, str]] = {}
    if md.tokens is not None and md.span is not None and may_hold_tokens(text):
        for match in md.tokens.finditer(text):
            shown = md.span(match.group())
            if shown is not None:
                tokens[match.start()] = (match.end(), shown)
    # analyse the text with each token as a word: whatever it holds is code
    analysed = text
    if tokens:
        pieces: list[str] = []
        pos = 0
        for start, (end, _) in sorted(tokens.items()):
            pieces += [text[pos:start], "a" * (end - start)]
            pos = end
        analysed = "".join([*pieces, text[pos:]])
    marks = _marks(analysed, md)
    if tokens and "\\" in text:
        # a backslash just before a token would escape the backtick that opens its code
        # span ("\\@all" would leave @all live): it is shown as itself
        marks.update(start - 1 for start in tokens if start and text[start - 1] == "\\")
    if not marks and not tokens:
        return text
    out: list[str] = []
    pos = 0
    for i in sorted(marks | tokens.keys()):
        if i < pos:
            continue  # inside a token shown as code
        out.append(text[pos:i])
        token = tokens.get(i)
        if token is not None:
            out.append(token[1])
            pos = token[0]
            continue
        char = text[i]
        escaped = md.escape_char(char)
        if escaped is None and md.span is not None:
            escaped = md.span(char)
        out.append(char if escaped is None else escaped)
        pos = i + 1
    out.append(text[pos:])
    return "".join(out)


def _marks(text: str, md: Markdown) -> set[int]:
    """The positions of the characters to escape."""
    marks: set[int] = set()
    _line_start(text, 0, md, marks)
    newline = text.find("\n")
    while newline >= 0:
        _line_start(text, newline + 1, md, marks)
        newline = text.find("\n", newline + 1)
    pairs = _discord_pairs if md.pairing == "discord" else _flanking_pairs
    for char in md.emphasis:
        if char in text:
            pairs(text, char, marks)
    if "`" in text:
        # every backtick: a lone one in the value pairs with the template's code spans
        marks.update(m.start() for m in _BACKTICK.finditer(text))
    if "\\" in text:
        # a backslash before punctuation would escape it, one at the end would escape the
        # template's markup after the value, one before a line break breaks the line
        marks.update(m.start() for m in _LIVE_BACKSLASH.finditer(text))
    if "]" in text:
        tails = [m.start() for m in _LINK_TAIL.finditer(text)]
        if tails:
            marks.update(m.start() for m in _BRACKET.finditer(text, 0, tails[-1]))
    if "<" in text:
        marks.update(m.start() for m in md.angle.finditer(text))
    if md.entities and "&" in text:
        marks.update(m.start() for m in _ENTITY.finditer(text))
    if md.bare_links and ":" in text:
        marks.update(m.start(1) for m in _SCHEME.finditer(text))
    if md.www_links and "." in text:
        marks.update(m.start(1) for m in _WWW.finditer(text))
    if md.email_links and "@" in text:
        marks.update(m.start(1) for m in _EMAIL.finditer(text))
    if md.escaped_mentions is not None and "@" in text:
        marks.update(m.start() for m in md.escaped_mentions.finditer(text))
    return marks


# -- code spans and blocks ------------------------------------------------------------------


def commonmark_span(text: str) -> str | None:
    """A CommonMark code span carrying ``text`` verbatim: a backtick fence longer than any
    backtick run inside, padded with a space where the text starts or ends with a backtick
    (CommonMark strips one space from each side when both are there). None for text with
    a line break, which a span would show as a space."""
    if "\n" in text:
        return None
    if not text:
        return ""
    fence = "`" * (longest_run(text) + 1)
    pad = ""
    if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" ")):
        pad = " "
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced_block(text: str, language: str = "", *, fence: str = "```") -> str:
    """A fenced code block: ``fence`` made longer than any run of its character inside, the
    language as its info string when it is one word."""
    char = fence[0]
    fence = char * max(len(fence), longest_run(text, char) + 1)
    info = language if re.fullmatch(r"[\w+#.-]{1,32}", language) else ""
    return f"{fence}{info}\n{text}\n{fence}"


def one_span_per_line(text: str, span: Callable[[str], str], line_break: str) -> str:
    """``text`` as one code span (or escaped line) per line, for platforms without code
    blocks."""
    return line_break.join(span(line) for line in text.split("\n"))


def break_out_code(
    text: str, breaks: re.Pattern[str], outside: Callable[[str], str], empty: str = " "
) -> str:
    """Text for inside a single-backtick code span the template writes itself (legacy
    ``|code``): verbatim, except what ``breaks`` finds (a backtick, a line break, a
    mention tag the platform acts on even in code), which is written outside the span,
    escaped by ``outside``: the span is closed before it and opened again after it. An
    empty piece of code becomes ``empty``, never an empty span (two backticks)."""
    if not breaks.search(text):
        return text
    out: list[str] = []
    pos = 0
    for match in breaks.finditer(text):
        out.append(text[pos : match.start()] or empty)
        separator = match.group()
        out.append("`" + (separator if separator == "\n" else outside(separator)) + "`")
        pos = match.end()
    out.append(text[pos:] or empty)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class CodeMarkup:
    """How a markdown platform shows code, from which ``code``, ``span`` and ``block``
    follow the same way on every such platform (``code_functions``)."""

    # a complete inline span carrying the text verbatim, or None where the platform cannot
    make_span: Callable[[str], str | None]
    # what legacy ``|code`` writes outside the span the template opened (break_out_code)
    breaks: re.Pattern[str]
    blocks: bool = True  # fenced code blocks exist
    # a text a fenced block cannot carry verbatim and inert (a fence the platform cannot
    # lengthen, a mention it acts on inside code): one span per line instead
    refuse_block: Callable[[str], bool] = lambda text: False


def code_functions(
    escape: Callable[[str], str], markup: CodeMarkup
) -> tuple[Callable[[str], str], Callable[[str], str], Callable[[str, str], str]]:
    """``(code, span, block)`` of a markdown platform whose prose escape is ``escape``."""

    def code(text: str) -> str:
        return break_out_code(strip_controls(text), markup.breaks, escape)

    def span(text: str) -> str:
        text = strip_controls(text)
        shown = markup.make_span(text)
        return escape(text) if shown is None else shown

    def block(text: str, language: str = "") -> str:
        text = strip_controls(text)
        if not markup.blocks or markup.refuse_block(text):
            return one_span_per_line(text, span, "\n")
        return fenced_block(text, language)

    return code, span, block
