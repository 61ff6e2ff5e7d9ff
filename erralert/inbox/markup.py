"""Safe HTML from the chat platforms' markups: Slack mrkdwn, the markdown family (Discord,
Mattermost, Rocket.Chat, DingTalk, WeCom, Feishu's lark_md, Teams), and the HTML subsets of
Telegram and Google Chat cards.

Everything a payload holds is untrusted. Text is always escaped; the only tags in the
output are the ones written here; a link is made only of an http(s) URL, with
``rel="noopener noreferrer nofollow"``; colours come from fixed tables or a strict
``#rrggbb`` pattern. Nothing of the input is ever passed through as HTML.
"""

from __future__ import annotations

import functools
import html
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMMONMARK",
    "FLAVOURS",
    "Flavour",
    "Tag",
    "TagReader",
    "chip",
    "colour",
    "esc",
    "html_subset",
    "link",
    "markdown",
    "markdown_inline",
    "mrkdwn",
    "safe_url",
    "tags",
]

_URL = re.compile(r"https?://[^\s<>\"'`\\]+", re.IGNORECASE)
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
_NAMED_COLOURS = {
    # Slack legacy attachments
    "good": "#2eb67d",
    "warning": "#ecb22e",
    "danger": "#e01e5a",
    # WeCom <font color>
    "info": "#2eb67d",
    "comment": "#8a8a8a",
    # Google Chat / common names
    "red": "#e01e5a",
    "green": "#2eb67d",
    "blue": "#1d72b8",
    "orange": "#f07c2e",
    "yellow": "#ecb22e",
    "purple": "#7c3aed",
    "grey": "#8a8a8a",
    "gray": "#8a8a8a",
}


def esc(text: object) -> str:
    """``text`` as HTML text (quotes too, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def safe_url(url: object) -> str | None:
    """``url`` when it is an absolute http(s) URL without spaces or quotes, else None."""
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    return candidate if _URL.fullmatch(candidate) else None


def link(url: object, label_html: str) -> str:
    """A link to a safe URL around already-safe ``label_html``; the label alone otherwise."""
    target = safe_url(url)
    if target is None:
        return label_html
    return (
        f'<a href="{esc(target)}" rel="noopener noreferrer nofollow" target="_blank">'
        f"{label_html}</a>"
    )


def chip(who: object) -> str:
    """A mention as a chip: the reader sees who would be pinged."""
    return f'<span class="mention">{esc(who)}</span>'


def colour(value: object) -> str | None:
    """``#rrggbb`` from a hex string, an integer (Discord) or a known name; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"#{value & 0xFFFFFF:06x}" if value >= 0 else None
    if not isinstance(value, str):
        return None
    named = _NAMED_COLOURS.get(value.strip().lower())
    if named:
        return named
    match = _HEX.fullmatch(value.strip())
    return f"#{match.group(1).lower()}" if match else None


# -- Slack mrkdwn (and Google Chat's plain text, which follows it) ---------------------------

_MRKDWN_TOKENS = re.compile(
    r"(?P<pre>```(?P<pre_body>.*?)```)"
    r"|(?P<code>`(?P<code_body>[^`\n]+)`)"
    r"|(?P<angle><(?P<target>[^<>|\s]+)(?:\|(?P<label>[^<>]*))?>)"
    r"|(?P<bold>(?<![\w*])\*(?P<bold_body>[^*\n]+)\*(?![\w*]))"
    r"|(?P<italic>(?<![\w_])_(?P<italic_body>[^_\n]+)_(?![\w_]))"
    r"|(?P<strike>(?<![\w~])~(?P<strike_body>[^~\n]+)~(?![\w~]))"
    # the client links bare URLs and www. names by itself
    r"|(?P<bare>(?<![\w.-])(?:https?://|(?P<bare_www>www\.))[^\s<>|`]*[^\s<>|`.,:;\"')\]!?*_~])",
    re.DOTALL,
)
_SLACK_BROADCASTS = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}


def _unslack(text: str) -> str:
    """mrkdwn's three escapes undone (they are shown as the characters)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn(text: str) -> str:
    """Slack mrkdwn: ``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``, ````` ```pre``` `````,
    ``<url|label>``, mentions ``<!channel>`` ``<@U…>`` ``<users/…>`` (Google Chat) as chips.
    Line breaks are kept (the page shows them with ``white-space: pre-wrap``)."""
    out: list[str] = []
    pos = 0
    for match in _MRKDWN_TOKENS.finditer(text):
        before = text[pos : match.start()]
        if match["pre"] is not None:
            # a block breaks the lines around it itself: the line breaks next to the fences
            # are not blank lines
            before = before.removesuffix("\n")
        out.append(esc(_unslack(before)))
        pos = match.end()
        if match["pre"] is not None:
            out.append(f"<pre>{esc(_unslack(match['pre_body'].strip(chr(10))))}</pre>")
            if text.startswith("\n", pos):
                pos += 1
        elif match["code"] is not None:
            out.append(f"<code>{esc(_unslack(match['code_body']))}</code>")
        elif match["angle"] is not None:
            out.append(_slack_angle(match["target"], match["label"]))
        elif match["bare"] is not None:
            url = _unslack(match["bare"])
            out.append(link(f"http://{url}" if match["bare_www"] else url, esc(url)))
        else:
            for name, tag in (("bold", "b"), ("italic", "i"), ("strike", "s")):
                if match[name] is not None:
                    out.append(f"<{tag}>{mrkdwn(match[f'{name}_body'])}</{tag}>")
    out.append(esc(_unslack(text[pos:])))
    return "".join(out)


def _slack_angle(target: str, label: str | None) -> str:
    target = _unslack(target)
    shown = _unslack(label) if label else None
    if target.startswith("!"):
        word = target[1:].split("^")[0]
        if word == "subteam":
            return chip(f"@{shown or target.split('^', 1)[-1]}")
        return chip(_SLACK_BROADCASTS.get(word, f"@{word}"))
    if target.startswith("@"):
        return chip(f"@{shown or target[1:]}")
    if target.startswith("#"):
        return chip(f"#{shown or target[1:]}")
    if target.startswith("users/"):  # Google Chat
        who = target.removeprefix("users/")
        return chip("@all" if who == "all" else f"@{shown or who}")
    return link(target, esc(shown or target))


# -- the markdown family --------------------------------------------------------------------


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


_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ANY_WORD = re.compile(r"(?<![\w@.+-])@(?P<who>[A-Za-z0-9_][\w.-]*)")

# the generic reading (CommonMark, plus every platform's mention syntax): Slack's markdown
# block, and payloads of platforms without a flavour of their own
COMMONMARK = Flavour(
    escapes=_ASCII_PUNCTUATION,
    entities=True,
    mention_words=_ANY_WORD,
    tag_mentions=True,
    at_tags=True,
    font=True,
    spoilers=True,
)
FLAVOURS: dict[str, Flavour] = {
    # marked's backslash escapes; entities reach the browser; GFM autolinks; @words notify
    "mattermost": Flavour(
        escapes=frozenset("\\`*{}[]()#+-.!_>~|"), entities=True, mention_words=_ANY_WORD
    ),
    # the message parser escapes * _ ~ ` # . only; single backticks; no HTML or entities
    "rocketchat": Flavour(
        escapes=frozenset("*_~`#."), code="single", star_bold=True, mention_words=_ANY_WORD
    ),
    # a backslash before any punctuation; <@id> pills; @everyone/@here; https:// links only
    "discord": Flavour(
        escapes=_ASCII_PUNCTUATION,
        mention_words=re.compile(r"(?<![\w@])@(?P<who>everyone|here)\b"),
        tag_mentions=True,
        spoilers=True,
        www=False,
        loose_underscores=True,
    ),
    # HTML underneath (<font>): references decoded; no code; mentions only through "at"
    "dingtalk": Flavour(entities=True, code="none", fences=False, font=True),
    "wecom": Flavour(entities=True, code="single", fences=False, tag_mentions=True, font=True),
    "feishu": Flavour(entities=True, code="single", at_tags=True, font=True),
    # TextBlock markdown (erralert sends only its mention line so; a RichTextBlock's
    # TextRuns are never parsed): no code spans
    "teams": Flavour(entities=True, code="none"),
}

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


# -- HTML subsets (Telegram, Google Chat card text) ---------------------------------------

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
