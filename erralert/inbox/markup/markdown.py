"""The markdown family as safe HTML: one reader, and the ``Flavour`` that says how one
platform reads it (each platform's is in its module in ``erralert.inbox.platforms``:
Discord, Mattermost, Rocket.Chat, DingTalk, WeCom, Feishu's lark_md, Teams); CommonMark
for the rest.
"""

from __future__ import annotations

import functools
import html
import re
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from erralert.inbox.markup.safe import chip, colour, esc, link

__all__ = [
    "ANY_MENTION",
    "ASCII_PUNCTUATION",
    "COMMONMARK",
    "MAX_QUOTE_DEPTH",
    "Flavour",
    "markdown",
    "markdown_inline",
]


@dataclass(frozen=True, slots=True)
class Flavour:
    """How one platform reads its markdown: which characters a backslash escapes, whether
    character references are decoded, its code spans (any number of backticks, one, or
    none), its fences, and what it makes a mention or a link by itself."""

    escapes: frozenset[str] = frozenset()
    entities: bool = False
    code: Literal["variable", "single", "none"] = "variable"
    fences: bool = True
    star_bold: bool = False  # a single "*" is bold (Rocket.Chat), not italic
    # "@name" words that notify (a chip each); None: "@" is text
    mention_words: re.Pattern[str] | None = None
    tag_mentions: bool = False  # "<@id>" (Discord, WeCom)
    at_tags: bool = False  # Feishu's "<at id=…></at>"
    font: bool = False  # "<font color=…>" (WeCom, DingTalk, Feishu)
    spoilers: bool = False  # Discord's "||spoiler||"
    autolinks: bool = True  # bare http(s):// URLs (and www. names where ``www``)
    www: bool = True
    # "__" pairs inside words too (Discord's underline), not only at word boundaries
    loose_underscores: bool = False


# what CommonMark lets a backslash escape (the platforms that follow it in that)
ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# "@name" of any word: a mention where a platform notifies any @word
ANY_MENTION = re.compile(r"(?<![\w@.+-])@(?P<who>[A-Za-z0-9_][\w.-]*)")

# the generic reading (CommonMark, plus every platform's mention syntax): Slack's markdown
# block, and payloads of platforms without a flavour of their own
COMMONMARK = Flavour(
    escapes=ASCII_PUNCTUATION,
    entities=True,
    mention_words=ANY_MENTION,
    tag_mentions=True,
    at_tags=True,
    font=True,
    spoilers=True,
)

# an info string of a backtick fence holds no backtick (CommonMark 4.5)
_FENCE = re.compile(r"\s{0,3}(`{3,}(?=[^`]*$)|~{3,})")
_HEADING = re.compile(r"\s{0,3}(#{1,6})\s+(.*)$")
_RULE = re.compile(r"\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_QUOTE = re.compile(r"\s{0,3}>\s?(.*)$")
_ITEM = re.compile(r"(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

_CONSTRUCTS = {
    "link": r"(?P<link>!?\[(?P<label>[^\[\]]*)\]\((?P<url>[^()\s]*)\))",
    "angle_link": r"(?P<angle_link><(?P<angle_url>https?://[^<>\s]+)>)",
    # CommonMark's flanking rules, roughly; a body holds no "*" (or "_"), so a scan for the
    # closer stops at the next one and the scans of all openers together stay linear
    "italic": r"(?P<italic>(?<![\w*])\*(?P<italic_body>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic2_body>[^_\s](?:[^_]*[^_\s])?)_(?![\w_]))",
    "at": r"(?P<at><at\s+(?:id|user_id|email)\s*=\s*[\"']?(?P<at_id>[^\"'>\s]+)[\"']?\s*>"
    r"(?P<at_name>[^<]*)</at>)",
    "tag_mention": r"(?P<tag_mention><@(?P<tag_kind>[!&]?)(?P<tag_id>[\w.@-]+)>)",
    "autolink": r"(?P<autolink>(?<![\w.-])(?:https?://|(?P<www>www\.))[^\s<>`]*[^\s<>`.,:;\"')\]!?*_~])",
    # a platform that links only URLs with a scheme (Discord): no www. names
    "scheme_link": r"(?P<autolink>(?<![\w.-])https?://[^\s<>`]*[^\s<>`.,:;\"')\]!?*_~])",
}
_TRIGGERS = frozenset("!*[<_~|@hHwW")

# The paired constructs whose body may hold anything (bold, strike, spoiler, font) are not
# patterns: a lazy "(.+?)closer" rescans the rest of the text from every opener that does
# not close there, which made a message of such openers quadratic. Their closers are looked
# up in an index of the text instead (``_Index``).
_FONT_OPEN = re.compile(r"<font\s+color\s*=\s*[\"']?(?P<colour>[\w#]+)[\"']?\s*>")
_CLOSERS = {
    "**": re.compile(r"(?=\*\*)"),
    "__": re.compile(r"(?=__)"),
    "flanked __": re.compile(r"(?=__(?![\w_]))"),  # a closer not followed by a word
    "~~": re.compile(r"(?=~~)"),
    "||": re.compile(r"(?=\|\|)"),
    "</font>": re.compile(r"(?=</font>)"),
}
_BACKTICKS = re.compile(r"`+")
_PAIRED_TAGS = {"bold": ("<b>", "</b>"), "strike": ("<s>", "</s>")}


def _pattern(flavour: Flavour) -> re.Pattern[str]:
    names = ["link", "angle_link", "italic"]
    names += [n for n, on in (("at", flavour.at_tags), ("tag_mention", flavour.tag_mentions)) if on]
    if flavour.autolinks:
        names.append("autolink" if flavour.www else "scheme_link")
    return re.compile("|".join(_CONSTRUCTS[name] for name in names), re.DOTALL)


_PATTERNS: dict[Flavour, re.Pattern[str]] = {}


class _Index:
    """Where the closers and the backtick runs of one text are, found once for the text:
    every opener then finds its closer by bisection instead of by rescanning the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._closers: dict[str, list[int]] = {}
        self._runs: dict[int, list[int]] | None = None

    def closer(self, kind: str, start: int) -> int:
        """The first position at or after ``start`` where ``kind`` closes, or -1."""
        found = self._closers.get(kind)
        if found is None:
            found = self._closers[kind] = [m.start() for m in _CLOSERS[kind].finditer(self.text)]
        return _first_from(found, start)

    def run(self, length: int, start: int) -> int:
        """Where the first run of exactly ``length`` backticks at or after ``start`` begins
        (what closes a code span opened by such a run), or -1."""
        if self._runs is None:
            self._runs = {}
            for match in _BACKTICKS.finditer(self.text):
                self._runs.setdefault(match.end() - match.start(), []).append(match.start())
        return _first_from(self._runs.get(length, []), start)


def _first_from(positions: list[int], start: int) -> int:
    at = bisect_left(positions, start)
    return positions[at] if at < len(positions) else -1


@functools.lru_cache(maxsize=64)
def _mention_pattern(texts: tuple[str, ...]) -> re.Pattern[str]:
    # the longest first: of two entity texts starting at one place, the longer one is meant
    ordered = sorted((t for t in texts if t), key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered) or "(?!)")


def markdown_inline(
    text: str, flavour: Flavour = COMMONMARK, mentions: Mapping[str, str] | None = None
) -> str:
    """One paragraph's inline markdown as ``flavour`` reads it: backslash escapes and
    character references first (what they make is text), code spans, then ``**bold**``,
    ``*italic*``/``_italic_``, ``~~strike~~``, ``||spoiler||``, ``[label](url)``, bare
    links, ``<font color>``, and mentions (``<at>``, ``<@id>``, ``@name``) as chips.

    ``mentions`` maps texts that mention someone (Teams' entities) to the chip shown for
    them: each is found in the text as written, in the same pass as the rest, so it can
    only ever replace text."""
    pattern = _PATTERNS.get(flavour)
    if pattern is None:
        pattern = _PATTERNS[flavour] = _pattern(flavour)
    mention = _mention_pattern(tuple(mentions)) if mentions else None
    index = _Index(text)
    out: list[str] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            out.append(esc("".join(plain)))
            plain.clear()

    i = 0
    while i < len(text):
        char = text[i]
        if mention is not None and (found := mention.match(text, i)):
            assert mentions is not None  # a pattern is made only from them
            flush()
            out.append(chip(mentions[found.group()]))
            i = found.end()
            continue
        if char == "\\" and i + 1 < len(text) and text[i + 1] in flavour.escapes:
            plain.append(text[i + 1])
            i += 2
            continue
        if char == "&" and flavour.entities and (entity := _ENTITY.match(text, i)):
            plain.append(html.unescape(entity.group()))
            i = entity.end()
            continue
        if char == "`" and flavour.code != "none":
            i = _code_span(index, i, flavour, plain, out, flush)
            continue
        if char in _TRIGGERS:
            token = _token_at(index, i, flavour, pattern, mentions)
            if token is not None:
                flush()
                out.append(token[1])
                i = token[0]
                continue
        plain.append(char)
        i += 1
    flush()
    return "".join(out)


def _token_at(
    index: _Index,
    i: int,
    flavour: Flavour,
    pattern: re.Pattern[str],
    mentions: Mapping[str, str] | None,
) -> tuple[int, str] | None:
    """The construct opening at ``text[i]``: (where it ends, its HTML), or None."""
    paired = _paired(index, i, flavour)
    if paired is not None:
        if _splits_a_code_span(index, i, paired[0], flavour):
            return None  # code spans bind tighter than emphasis and links (6.1)
        end, kind, body, shade = paired
        return end, _paired_html(kind, markdown_inline(body, flavour, mentions), shade)
    text = index.text
    match = pattern.match(text, i)
    if match is not None and _splits_a_code_span(index, i, match.end(), flavour):
        match = None
    if match is None and text[i] == "@" and flavour.mention_words is not None:
        match = flavour.mention_words.match(text, i)
    if match is None:
        return None
    return match.end(), _inline_token(match, flavour, mentions)


def _paired(index: _Index, i: int, flavour: Flavour) -> tuple[int, str, str, str] | None:
    """Bold, strike, spoiler or font opening at ``text[i]``: (its end, its kind, its body,
    its colour), or None."""
    text = index.text
    opener = text[i : i + 2]
    if opener == "<f" and flavour.font:
        match = _FONT_OPEN.match(text, i)
        close = index.closer("</font>", match.end()) if match else -1
        if match is None or close < 0:
            return None
        return close + len("</font>"), "font", text[match.end() : close], match["colour"]
    if opener == "**":
        kind, closer = "bold", "**"
    elif opener == "__" and flavour.loose_underscores:
        kind, closer = "bold", "__"
    elif opener == "__" and not (i > 0 and _is_word(text[i - 1])):
        kind, closer = "bold", "flanked __"
    elif opener == "~~":
        kind, closer = "strike", "~~"
    elif opener == "||" and flavour.spoilers:
        kind, closer = "spoiler", "||"
    else:
        return None
    close = index.closer(closer, i + 3)  # the body has a character at least
    return None if close < 0 else (close + 2, kind, text[i + 2 : close], "")


def _is_word(char: str) -> bool:
    """What ``\\w`` or ``_`` matches (``\\w`` is ``isalnum`` and the underscore)."""
    return char.isalnum() or char == "_"


def _paired_html(kind: str, body: str, shade: str) -> str:
    if kind == "spoiler":
        return f'<span class="spoiler">{body}</span>'
    if kind == "font":
        written = colour(shade)
        return f'<span style="color:{written}">{body}</span>' if written else body
    opening, closing = _PAIRED_TAGS[kind]
    return f"{opening}{body}{closing}"


def _splits_a_code_span(index: _Index, start: int, end: int, flavour: Flavour) -> bool:
    """Whether a code span opening inside ``text[start:end]`` closes after it: then the
    construct cannot form, as CommonMark gives code spans precedence (6.1)."""
    if flavour.code == "none":
        return False
    text = index.text
    opener = text.find("`", start, end)
    while opener >= 0:
        run_end = opener
        while run_end < len(text) and text[run_end] == "`":
            run_end += 1
        length = run_end - opener
        closer = index.run(length, run_end)
        if closer >= 0 and (flavour.code != "single" or length == 1):
            if closer >= end:
                return True
            opener = text.find("`", closer + length, end)
        else:
            opener = text.find("`", run_end, end)
    return False


def _code_span(
    index: _Index,
    start: int,
    flavour: Flavour,
    plain: list[str],
    out: list[str],
    flush: Callable[[], None],
) -> int:
    """A code span opening at ``start`` (CommonMark 6.1: closed by the next run of as many
    backticks), written to ``out``; else the run as text. Returns where to go on."""
    text = index.text
    end = start
    while end < len(text) and text[end] == "`":
        end += 1
    run = end - start
    if flavour.code == "single" and run != 1:
        plain.append(text[start:end])
        return end
    found = index.run(run, end)
    if found < 0:
        plain.append(text[start:end])
        return end
    content = text[end:found].replace("\n", " ")
    if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
        content = content[1:-1]
    flush()
    out.append(f"<code>{esc(content)}</code>")
    return found + run


def _inline_token(
    match: re.Match[str], flavour: Flavour, mentions: Mapping[str, str] | None
) -> str:
    groups = match.groupdict()

    def inline(text: str) -> str:
        return markdown_inline(text, flavour, mentions)

    if groups.get("link") is not None:
        return link(match["url"], inline(match["label"]))
    if groups.get("angle_link") is not None:
        return link(match["angle_url"], esc(match["angle_url"]))
    if groups.get("autolink") is not None:
        url = match["autolink"]
        return link(f"http://{url}" if groups.get("www") else url, esc(url))
    if groups.get("italic") is not None:
        if flavour.star_bold and match["italic_body"]:
            return f"<b>{inline(match['italic_body'])}</b>"
        body = match["italic_body"] or match["italic2_body"] or ""
        return f"<i>{inline(body)}</i>"
    if groups.get("at") is not None:
        ident, name = match["at_id"], match["at_name"].strip()
        return chip("@all" if ident == "all" else f"@{name or ident}")
    if groups.get("tag_mention") is not None:
        prefix = "@&" if match["tag_kind"] == "&" else "@"
        return chip(f"{prefix}{match['tag_id']}")
    return chip(f"@{match['who']}")


# chat apps draw a few levels of quotes; deeper ones are shown as text, with a note, so
# that a message of a thousand ">" costs neither a recursion per level nor the page
MAX_QUOTE_DEPTH = 16


def markdown(
    text: str, flavour: Flavour = COMMONMARK, mentions: Mapping[str, str] | None = None
) -> str:
    """Block markdown: fenced code (where the flavour has it), ``#`` headings, ``>``
    quotes (``MAX_QUOTE_DEPTH`` levels), ``-``/``1.`` lists, rules, and paragraphs whose
    line breaks are kept (chat apps keep them). ``mentions``: see ``markdown_inline``."""
    return _blocks(text.replace("\r\n", "\n").split("\n"), flavour, mentions, 0)


def _blocks(
    lines: list[str], flavour: Flavour, mentions: Mapping[str, str] | None, depth: int
) -> str:
    out: list[str] = []
    paragraph: list[str] = []

    def inline(text: str) -> str:
        return markdown_inline(text, flavour, mentions)

    def flush() -> None:
        if paragraph:
            out.append("<p>" + "<br>".join(inline(p) for p in paragraph) + "</p>")
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line) if flavour.fences else None
        if fence:
            flush()
            marker = fence.group(1)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            out.append(f"<pre>{esc(chr(10).join(body))}</pre>")
            i += 1
            continue
        if not line.strip():
            flush()
        elif _RULE.match(line):
            flush()
            out.append("<hr>")
        elif heading := _HEADING.match(line):
            flush()
            level = min(6, len(heading.group(1)) + 2)  # a chat's headings are small
            out.append(f'<div class="h h{level}">{inline(_heading_text(heading.group(2)))}</div>')
        elif _QUOTE.match(line):
            flush()
            quoted: list[str] = []
            while i < len(lines) and (quote := _QUOTE.match(lines[i])):
                quoted.append(quote.group(1))
                i += 1
            out.append(f"<blockquote>{_quoted(quoted, flavour, mentions, depth)}</blockquote>")
            continue
        elif item := _ITEM.match(line):
            flush()
            ordered = item.group(2)[0].isdigit()
            entries: list[str] = []
            while i < len(lines) and (item := _ITEM.match(lines[i])):
                entries.append(f"<li>{inline(item.group(3))}</li>")
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>{''.join(entries)}</{tag}>")
            continue
        else:
            paragraph.append(line)
        i += 1
    flush()
    return "".join(out)


def _quoted(
    lines: list[str], flavour: Flavour, mentions: Mapping[str, str] | None, depth: int
) -> str:
    if depth + 1 < MAX_QUOTE_DEPTH:
        return _blocks(lines, flavour, mentions, depth + 1)
    note = f"quotes nested deeper than {MAX_QUOTE_DEPTH} levels: the rest is shown as text"
    return f'<div class="note">{esc(note)}</div><pre class="plain">{esc(chr(10).join(lines))}</pre>'


def _heading_text(text: str) -> str:
    """A heading's words without the closing run of ``#`` (and the spaces around it)."""
    return text.rstrip().rstrip("#").rstrip()
