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

__all__ = [
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
    r"|(?P<strike>(?<![\w~])~(?P<strike_body>[^~\n]+)~(?![\w~]))",
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
        out.append(esc(_unslack(text[pos : match.start()])))
        pos = match.end()
        if match["pre"] is not None:
            out.append(f"<pre>{esc(_unslack(match['pre_body'].strip(chr(10))))}</pre>")
        elif match["code"] is not None:
            out.append(f"<code>{esc(_unslack(match['code_body']))}</code>")
        elif match["angle"] is not None:
            out.append(_slack_angle(match["target"], match["label"]))
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

_FENCE = re.compile(r"\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_QUOTE = re.compile(r"\s{0,3}>\s?(.*)$")
_ITEM = re.compile(r"(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")

_INLINE = re.compile(
    r"(?P<escape>\\(?P<escaped>[!-/:-@\[-`{-~]))"
    r"|(?P<code>`(?P<code_body>[^`]+)`)"
    r"|(?P<link>\[(?P<label>[^\[\]]*)\]\((?P<url>[^()\s]*)\))"
    r"|(?P<bold>\*\*(?P<bold_body>.+?)\*\*|__(?P<under_body>.+?)__)"
    # CommonMark's flanking rules, with U+200B counted as a letter (erralert's markdown
    # dialect relies on that to make "_" inert)
    r"|(?P<italic>(?<![\w*\u200b])\*(?P<italic_body>[^*\s\u200b](?:[^*]*[^*\s\u200b])?)"
    r"\*(?![\w*\u200b])"
    r"|(?<![\w_\u200b])_(?P<italic2_body>[^_\s\u200b](?:[^_]*[^_\s\u200b])?)_(?![\w_\u200b]))"
    r"|(?P<strike>~~(?P<strike_body>.+?)~~)"
    r"|(?P<spoiler>\|\|(?P<spoiler_body>.+?)\|\|)"
    r"|(?P<font><font\s+color\s*=\s*[\"']?(?P<font_colour>[\w#]+)[\"']?\s*>(?P<font_body>.*?)</font>)"
    r"|(?P<at><at\s+(?:id|user_id|email)\s*=\s*[\"']?(?P<at_id>[^\"'>\s]+)[\"']?\s*>(?P<at_name>[^<]*)</at>)"
    r"|(?P<tag_mention><@(?P<tag_kind>[!&]?)(?P<tag_id>[\w.@-]+)>)"
    r"|(?P<broadcast>(?<![\w@])@(?P<who>[A-Za-z0-9][\w.-]*))"
)


def markdown_inline(text: str, *, star_bold: bool = False) -> str:
    """One paragraph's inline markdown: code, ``**bold**``, ``*italic*``/``_italic_``,
    ``~~strike~~``, ``||spoiler||``, ``[label](url)``, backslash escapes, WeCom's
    ``<font color>``, Feishu's ``<at>``, ``<@id>`` and ``@name`` mentions (chips).
    ``star_bold``: a single ``*`` makes bold (Rocket.Chat), not italic."""
    out: list[str] = []
    pos = 0
    for match in _INLINE.finditer(text):
        out.append(esc(text[pos : match.start()]))
        pos = match.end()
        out.append(_inline_token(match, star_bold))
    out.append(esc(text[pos:]))
    return "".join(out)


def _inline_token(match: re.Match[str], star_bold: bool) -> str:
    def inline(text: str) -> str:
        return markdown_inline(text, star_bold=star_bold)

    if match["escape"] is not None:
        return esc(match["escaped"])
    if match["code"] is not None:
        return f"<code>{esc(match['code_body'])}</code>"
    if match["link"] is not None:
        return link(match["url"], inline(match["label"]))
    if match["bold"] is not None:
        return f"<b>{inline(match['bold_body'] or match['under_body'] or '')}</b>"
    if match["italic"] is not None:
        if star_bold and match["italic_body"]:
            return f"<b>{inline(match['italic_body'])}</b>"
        body = match["italic_body"] or match["italic2_body"] or ""
        return f"<i>{inline(body)}</i>"
    if match["strike"] is not None:
        return f"<s>{inline(match['strike_body'])}</s>"
    if match["spoiler"] is not None:
        return f'<span class="spoiler">{inline(match["spoiler_body"])}</span>'
    if match["font"] is not None:
        shade = colour(match["font_colour"])
        body = inline(match["font_body"])
        return f'<span style="color:{shade}">{body}</span>' if shade else body
    if match["at"] is not None:
        ident, name = match["at_id"], match["at_name"].strip()
        return chip("@all" if ident == "all" else f"@{name or ident}")
    if match["tag_mention"] is not None:
        prefix = "@&" if match["tag_kind"] == "&" else "@"
        return chip(f"{prefix}{match['tag_id']}")
    return chip(f"@{match['who']}")


def markdown(text: str, *, star_bold: bool = False) -> str:
    """Block markdown: fenced code, ``#`` headings, ``>`` quotes, ``-``/``1.`` lists,
    rules, and paragraphs whose line breaks are kept (chat apps keep them)."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(
                "<p>"
                + "<br>".join(markdown_inline(p, star_bold=star_bold) for p in paragraph)
                + "</p>"
            )
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
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
            words = markdown_inline(heading.group(2), star_bold=star_bold)
            out.append(f'<div class="h h{level}">{words}</div>')
        elif _QUOTE.match(line):
            flush()
            quoted: list[str] = []
            while i < len(lines) and (quote := _QUOTE.match(lines[i])):
                quoted.append(quote.group(1))
                i += 1
            out.append(
                f"<blockquote>{markdown(chr(10).join(quoted), star_bold=star_bold)}</blockquote>"
            )
            continue
        elif item := _ITEM.match(line):
            flush()
            ordered = item.group(2)[0].isdigit()
            entries: list[str] = []
            while i < len(lines) and (item := _ITEM.match(lines[i])):
                entries.append(f"<li>{markdown_inline(item.group(3), star_bold=star_bold)}</li>")
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
) -> str:
    """``text`` in a platform's HTML subset as safe HTML. ``allowed`` maps a tag name to the
    tag written instead and, optionally, a function making its safe opening tag from the
    attributes (links, colours). Other tags are shown as text; tags left open are closed;
    a stray closing tag is dropped. Entities are decoded, then escaped again."""
    out: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag in the text, tag written), innermost last
    pos = 0
    for match in _HTML_TOKENS.finditer(text):
        out.append(esc(html.unescape(text[pos : match.start()])))
        pos = match.end()
        name = match["name"].lower()
        spec = allowed.get(name)
        if spec is None:
            out.append(esc(match.group(0)))
            continue
        written, opener = spec
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
    out.append(esc(html.unescape(text[pos:])))
    out.extend(f"</{opened}>" for _, opened in reversed(stack))
    return "".join(out)
