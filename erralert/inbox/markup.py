"""Safe HTML from the chat platforms' markups: Slack mrkdwn, the markdown family (Discord,
Mattermost, Rocket.Chat, DingTalk, WeCom, Feishu's lark_md, Teams), and the HTML subsets of
Telegram and Google Chat cards.

Everything a payload holds is untrusted. Text is always escaped; the only tags in the
output are the ones written here; a link is made only of an http(s) URL, with
``rel="noopener noreferrer nofollow"``; colours come from fixed tables or a strict
``#rrggbb`` pattern. Nothing of the input is ever passed through as HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMMONMARK",
    "FLAVOURS",
    "Flavour",
    "chip",
    "colour",
    "esc",
    "html_subset",
    "link",
    "markdown",
    "markdown_inline",
    "mrkdwn",
    "safe_url",
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
_HEADING = re.compile(r"\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_QUOTE = re.compile(r"\s{0,3}>\s?(.*)$")
_ITEM = re.compile(r"(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

_CONSTRUCTS = {
    "link": r"(?P<link>!?\[(?P<label>[^\[\]]*)\]\((?P<url>[^()\s]*)\))",
    "angle_link": r"(?P<angle_link><(?P<angle_url>https?://[^<>\s]+)>)",
    "bold": r"(?P<bold>\*\*(?P<bold_body>.+?)\*\*|(?<![\w_])__(?P<under_body>.+?)__(?![\w_]))",
    "loose_bold": r"(?P<bold>\*\*(?P<bold_body>.+?)\*\*|__(?P<under_body>.+?)__)",
    # CommonMark's flanking rules, roughly
    "italic": r"(?P<italic>(?<![\w*])\*(?P<italic_body>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic2_body>[^_\s](?:[^_]*[^_\s])?)_(?![\w_]))",
    "strike": r"(?P<strike>~~(?P<strike_body>.+?)~~)",
    "spoiler": r"(?P<spoiler>\|\|(?P<spoiler_body>.+?)\|\|)",
    "font": r"(?P<font><font\s+color\s*=\s*[\"']?(?P<font_colour>[\w#]+)[\"']?\s*>"
    r"(?P<font_body>.*?)</font>)",
    "at": r"(?P<at><at\s+(?:id|user_id|email)\s*=\s*[\"']?(?P<at_id>[^\"'>\s]+)[\"']?\s*>"
    r"(?P<at_name>[^<]*)</at>)",
    "tag_mention": r"(?P<tag_mention><@(?P<tag_kind>[!&]?)(?P<tag_id>[\w.@-]+)>)",
    "autolink": r"(?P<autolink>(?<![\w.-])(?:https?://|(?P<www>www\.))[^\s<>`]*[^\s<>`.,:;\"')\]!?*_~])",
    # a platform that links only URLs with a scheme (Discord): no www. names
    "scheme_link": r"(?P<autolink>(?<![\w.-])https?://[^\s<>`]*[^\s<>`.,:;\"')\]!?*_~])",
}
_TRIGGERS = frozenset("!*[<_~|@hHwW")


def _pattern(flavour: Flavour) -> re.Pattern[str]:
    bold = "loose_bold" if flavour.loose_underscores else "bold"
    names = ["link", "angle_link", bold, "italic", "strike"]
    names += [n for n, on in (("spoiler", flavour.spoilers), ("font", flavour.font)) if on]
    names += [n for n, on in (("at", flavour.at_tags), ("tag_mention", flavour.tag_mentions)) if on]
    if flavour.autolinks:
        names.append("autolink" if flavour.www else "scheme_link")
    return re.compile("|".join(_CONSTRUCTS[name] for name in names), re.DOTALL)


_PATTERNS: dict[Flavour, re.Pattern[str]] = {}


def markdown_inline(text: str, flavour: Flavour = COMMONMARK) -> str:
    """One paragraph's inline markdown as ``flavour`` reads it: backslash escapes and
    character references first (what they make is text), code spans, then ``**bold**``,
    ``*italic*``/``_italic_``, ``~~strike~~``, ``||spoiler||``, ``[label](url)``, bare
    links, ``<font color>``, and mentions (``<at>``, ``<@id>``, ``@name``) as chips."""
    pattern = _PATTERNS.get(flavour)
    if pattern is None:
        pattern = _PATTERNS[flavour] = _pattern(flavour)
    out: list[str] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            out.append(esc("".join(plain)))
            plain.clear()

    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in flavour.escapes:
            plain.append(text[i + 1])
            i += 2
            continue
        if char == "&" and flavour.entities and (entity := _ENTITY.match(text, i)):
            plain.append(html.unescape(entity.group()))
            i = entity.end()
            continue
        if char == "`" and flavour.code != "none":
            i = _code_span(text, i, flavour, plain, out, flush)
            continue
        if char in _TRIGGERS:
            match = pattern.match(text, i)
            if match is not None and _splits_a_code_span(text, match, flavour):
                match = None  # code spans bind tighter than emphasis and links (6.1)
            if match is None and char == "@" and flavour.mention_words is not None:
                match = flavour.mention_words.match(text, i)
            if match is not None:
                flush()
                out.append(_inline_token(match, flavour))
                i = match.end()
                continue
        plain.append(char)
        i += 1
    flush()
    return "".join(out)


def _splits_a_code_span(text: str, match: re.Match[str], flavour: Flavour) -> bool:
    """Whether a code span opening inside ``match`` closes after it: then the construct
    cannot form, as CommonMark gives code spans precedence (6.1)."""
    if flavour.code == "none":
        return False
    opener = text.find("`", match.start(), match.end())
    while opener >= 0:
        end = opener
        while end < len(text) and text[end] == "`":
            end += 1
        run = text[opener:end]
        closer = text.find(run, end)
        while closer >= 0 and (
            text[closer - 1] == "`" or text[closer + len(run) : closer + len(run) + 1] == "`"
        ):
            closer = text.find(run, closer + 1)
        if closer >= 0 and (flavour.code != "single" or len(run) == 1):
            if closer >= match.end():
                return True
            opener = text.find("`", closer + len(run), match.end())
        else:
            opener = text.find("`", end, match.end())
    return False


def _code_span(
    text: str,
    start: int,
    flavour: Flavour,
    plain: list[str],
    out: list[str],
    flush: Callable[[], None],
) -> int:
    """A code span opening at ``start`` (CommonMark 6.1: closed by the next run of as many
    backticks), written to ``out``; else the run as text. Returns where to go on."""
    end = start
    while end < len(text) and text[end] == "`":
        end += 1
    run = end - start
    if flavour.code == "single" and run != 1:
        plain.append(text[start:end])
        return end
    pos = end
    while (found := text.find("`" * run, pos)) >= 0:
        after = found + run
        if (found == 0 or text[found - 1] != "`") and (after == len(text) or text[after] != "`"):
            content = text[end:found].replace("\n", " ")
            if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
                content = content[1:-1]
            flush()
            out.append(f"<code>{esc(content)}</code>")
            return after
        pos = after
        while pos < len(text) and text[pos] == "`":
            pos += 1
    plain.append(text[start:end])
    return end


def _inline_token(match: re.Match[str], flavour: Flavour) -> str:
    groups = match.groupdict()

    def inline(text: str) -> str:
        return markdown_inline(text, flavour)

    if groups.get("link") is not None:
        return link(match["url"], inline(match["label"]))
    if groups.get("angle_link") is not None:
        return link(match["angle_url"], esc(match["angle_url"]))
    if groups.get("autolink") is not None:
        url = match["autolink"]
        return link(f"http://{url}" if groups.get("www") else url, esc(url))
    if groups.get("bold") is not None:
        return f"<b>{inline(match['bold_body'] or match['under_body'] or '')}</b>"
    if groups.get("italic") is not None:
        if flavour.star_bold and match["italic_body"]:
            return f"<b>{inline(match['italic_body'])}</b>"
        body = match["italic_body"] or match["italic2_body"] or ""
        return f"<i>{inline(body)}</i>"
    if groups.get("strike") is not None:
        return f"<s>{inline(match['strike_body'])}</s>"
    if groups.get("spoiler") is not None:
        return f'<span class="spoiler">{inline(match["spoiler_body"])}</span>'
    if groups.get("font") is not None:
        shade = colour(match["font_colour"])
        body = inline(match["font_body"])
        return f'<span style="color:{shade}">{body}</span>' if shade else body
    if groups.get("at") is not None:
        ident, name = match["at_id"], match["at_name"].strip()
        return chip("@all" if ident == "all" else f"@{name or ident}")
    if groups.get("tag_mention") is not None:
        prefix = "@&" if match["tag_kind"] == "&" else "@"
        return chip(f"{prefix}{match['tag_id']}")
    return chip(f"@{match['who']}")


def markdown(text: str, flavour: Flavour = COMMONMARK) -> str:
    """Block markdown: fenced code (where the flavour has it), ``#`` headings, ``>``
    quotes, ``-``/``1.`` lists, rules, and paragraphs whose line breaks are kept (chat apps
    keep them)."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append("<p>" + "<br>".join(markdown_inline(p, flavour) for p in paragraph) + "</p>")
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
            words = markdown_inline(heading.group(2), flavour)
            out.append(f'<div class="h h{level}">{words}</div>')
        elif _QUOTE.match(line):
            flush()
            quoted: list[str] = []
            while i < len(lines) and (quote := _QUOTE.match(lines[i])):
                quoted.append(quote.group(1))
                i += 1
            out.append(f"<blockquote>{markdown(chr(10).join(quoted), flavour)}</blockquote>")
            continue
        elif item := _ITEM.match(line):
            flush()
            ordered = item.group(2)[0].isdigit()
            entries: list[str] = []
            while i < len(lines) and (item := _ITEM.match(lines[i])):
                entries.append(f"<li>{markdown_inline(item.group(3), flavour)}</li>")
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>{''.join(entries)}</{tag}>")
            continue
        else:
            paragraph.append(line)
        i += 1
    flush()
    return "".join(out)


# -- HTML subsets (Telegram, Google Chat card text) ---------------------------------------

_HTML_TOKENS = re.compile(
    r"<(?P<close>/?)(?P<name>[A-Za-z][\w-]*)(?P<attrs>(?:\s+[\w-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*/?>"
)
_ATTR = re.compile(r"([\w-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")
# makes a kept tag's safe opening from its attributes: (the opening HTML, the tag it opened)
Opener = Callable[[dict[str, str]], tuple[str, str]]


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
        inside_code = any(name in ("code", "pre") for name, _ in stack)
        return (esc if inside_code else plain)(html.unescape(segment))

    out: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag in the text, tag written), innermost last
    pos = 0
    for match in _HTML_TOKENS.finditer(text):
        out.append(text_of(text[pos : match.start()]))
        pos = match.end()
        name = match["name"].lower()
        spec = allowed.get(name)
        if spec is None:
            out.append(esc(match.group(0)))
            continue
        written, opener = spec
        if name == "pre":  # a block breaks the lines around it itself (see mrkdwn)
            if match["close"]:
                pos += text.startswith("\n", pos)
            elif out:
                out[-1] = out[-1].removesuffix("\n")
        if name in void:
            out.append(f"<{written}>")
        elif not match["close"]:
            opening, opened = (
                opener(_attrs(match["attrs"] or "")) if opener else (f"<{written}>", written)
            )
            out.append(opening)
            stack.append((name, opened))
        elif any(open_name == name for open_name, _ in stack):
            while stack:
                open_name, opened = stack.pop()
                out.append(f"</{opened}>")
                if open_name == name:
                    break
    out.append(text_of(text[pos:]))
    out.extend(f"</{opened}>" for _, opened in reversed(stack))
    return "".join(out)
