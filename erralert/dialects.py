"""Escaping untrusted text (exception messages, URLs, headers) for each chat markup dialect.

Everything an error carries is attacker-controlled: a request path, a header, the message
of an exception raised on bad input. Pasted into a chat message as is, such text can ping
the whole channel (Slack's ``<!channel>``), plant a phishing link (``[login](http://…)``),
or forge the structure of the alert (a ``# heading`` or ``> quote`` that looks like ours).

Each ``Dialect`` turns such text into markup that *displays* the same characters and
*means* nothing. Where a platform has a real escape (Slack's three entities, HTML
entities, Discord's backslash) it is used; where it has none we can rely on (DingTalk's
markdown documents no backslash escapes), an invisible U+200B ZERO WIDTH SPACE is inserted
to break the syntax, or a look-alike character is substituted. Templates never call these
directly: the renderer escapes every ``{{ … }}`` output for the channel's dialect.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DIALECTS", "Dialect"]

ZWSP = "\u200b"

# C0 controls but \t and \n, DEL, and C1 controls: a terminal acts on ESC and CSI (colour
# changes, cursor moves that overwrite earlier lines), and chat APIs reject or mangle NUL.
# The bidirectional overrides and isolates go too: they make a file name or a URL display
# in another order than it reads ("Trojan Source").
_CONTROLS: dict[int, None] = dict.fromkeys(
    [
        *range(0x09),  # NUL to BS
        0x0B,
        0x0C,
        *range(0x0E, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)

# "http://x" -> "http:\u200b//x": no platform recognises a scheme with a break after it
_SCHEME = re.compile(r"(?<=:)(?=//)")
# GFM, Slack and Telegram also link a bare "www.example.com"
_WWW = re.compile(r"(?<![\w.])(www)(?=\.)", re.IGNORECASE)


def _strip_controls(text: str) -> str:
    if "\r" in text:
        # a lone CR would let text overwrite the line before it on a terminal; CRLF is a
        # line break written the Windows way
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_CONTROLS)


def _neutralise_links(text: str) -> str:
    """Break autolinking of ``scheme://…`` and ``www.…``, invisibly."""
    if "//" in text:
        text = _SCHEME.sub(ZWSP, text)
    if "ww" in text or "WW" in text:
        text = _WWW.sub(r"\1" + ZWSP, text)
    return text


def _neutralise_mentions(text: str) -> str:
    """``@all``, ``@channel``, ``@here``, ``@everyone``, ``@user``: the platform (or a bot
    reading the message) sees ``@`` + ZWSP, which names nobody."""
    return text.replace("@", "@" + ZWSP)


# -- plain ---------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return _strip_controls(text)


# -- Slack mrkdwn --------------------------------------------------------------------------

# Slack's documented escaping is exactly these three: every control sequence (<!channel>,
# <@U123>, <http://x|label>) starts with a raw "<", so no entity means no control sequence
_MRKDWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# inside a code span a backtick would end the span early; U+02CB MODIFIER LETTER GRAVE
# ACCENT looks the same and ends nothing
_BACKTICK = str.maketrans({"`": "\u02cb"})


def _mrkdwn(text: str) -> str:
    text = _strip_controls(text).translate(_MRKDWN)
    return _neutralise_mentions(_neutralise_links(text))


def _mrkdwn_code(text: str) -> str:
    return _mrkdwn(text).translate(_BACKTICK)


# -- markdown (DingTalk, later Mattermost and Teams) ---------------------------------------

_MARKDOWN = str.maketrans(
    {
        # no HTML tag, comment or <url> autolink can start without "<" followed by a
        # letter, "/", "!" or "?"
        "<": "<" + ZWSP,
        # "&amp;" in the text should read "&amp;", not "&": no entity can form
        "&": "&" + ZWSP,
        # backticks can neither open nor close a code span
        "`": "\u02cb",
        # a trailing backslash would escape the template's own markup after the value
        # ("**{{ x }}**"): a backslash before U+200B escapes nothing
        "\\": "\\" + ZWSP,
        # "*" and "~" may open and close emphasis inside a word, and CommonMark does not
        # count U+200B as whitespace, so no invisible insertion stops "a*b*c": swap in
        # look-alikes, U+2217 ASTERISK OPERATOR and U+223C TILDE OPERATOR
        "*": "\u2217",
        "~": "\u223c",
    }
)
_UNDERSCORES = re.compile(r"_+")
# "[x](url)", "![i](url)", "[x][ref]": no link or image without "](", "![" or "]["
_LINK = re.compile(r"(?<=\])(?=[(\[])|(?<=!)(?=\[)")
# a block marker at the start of a line: heading, quote, list item, table row, setext
# underline, fence, link reference definition, and the indentation of a code block. A
# character at the start (U+200B) makes the line part of a paragraph.
_LINE_START = re.compile(
    r"^(?=[ \t]*(?:[#>+\-*|=_~\[\u2217\u223c]|\d{1,9}[.)])|[ ]{4}|\t)", re.MULTILINE
)


_MARKERS = frozenset("#>+-*|=_~[0123456789\u2217\u223c")


def _underscores(match: re.Match[str]) -> str:
    # "_" emphasises only at a word boundary: a run between two letters or digits
    # (checkout_failed, order__id) can neither open nor close emphasis, and is kept as it
    # is, so identifiers stay searchable. Any other run gets U+200B after each "_": then
    # every "_" is both left- and right-flanking (U+200B is neither whitespace nor
    # punctuation to CommonMark), which cannot close emphasis.
    text, start, end = match.string, match.start(), match.end()
    if start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum():
        return match.group()
    return match.group().replace("_", "_" + ZWSP)


def _markdown(text: str) -> str:
    text = _strip_controls(text)
    # most values are one line starting with a letter: skip the regex for them
    if "\n" in text or text[:1] in " \t" or text[:1] in _MARKERS:
        text = _LINE_START.sub(ZWSP, text)
    text = text.translate(_MARKDOWN)
    if "_" in text:
        text = _UNDERSCORES.sub(_underscores, text)
    if "]" in text or "!" in text:
        text = _LINK.sub(ZWSP, text)
    return _neutralise_mentions(_neutralise_links(text))


# -- Discord markdown ----------------------------------------------------------------------

# Discord's markdown takes a backslash before any punctuation as an escape ("\*" shows
# "*", "\\" shows "\"), so formatting characters get the platform's own escape. The
# markdown dialect's U+200B after a backslash would not do here: Discord escapes the U+200B
# itself and the backslash vanishes from a Windows path. And "a_b_ c" is emphasis on Discord
# even with U+200B after each "_", which CommonMark would not make of it.
_DISCORD = str.maketrans(
    {
        "\\": "\\\\",
        "*": "\\*",
        "~": "\\~",  # ~~strike~~
        "|": "\\|",  # ||spoiler||
        "[": "\\[",  # [label](url): a masked link
        # "\`" is reported not to escape a backtick everywhere: the look-alike always works
        "`": "\u02cb",
        # <@id>, <@&role>, <#channel>, <t:…>, <:emoji:id>, </command:id> and <https://…> all
        # need a raw "<" right before their first character; U+200B breaks every one of them
        "<": "<" + ZWSP,
    }
)
_DISCORD_CODE = str.maketrans({"`": "\u02cb", "<": "<" + ZWSP})
# a block marker at the start of a line: heading (# to ###), subtext (-#), quote (> and >>>),
# list item (- * +, "1." and "1)"); "*" is escaped everywhere already
_DISCORD_LINE_START = re.compile(r"^([ \t]*)([#>+\-]|\d{1,9}(?=[.)]))", re.MULTILINE)
_DISCORD_MARKERS = frozenset("#>+-0123456789")
# Discord's "_" emphasis needs a word boundary outside each "_", as JavaScript's \b sees it
# (ASCII letters, digits and "_"): a run between two ASCII letters or digits stays as it is
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _discord_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    if marker[0].isdigit():
        return f"{indent}{marker}\\"  # "1\\. x": the escape goes before the "." or ")"
    return f"{indent}\\{marker}"


def _discord_underscores(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    if (
        start > 0
        and end < len(text)
        and text[start - 1] in _ASCII_WORD
        and text[end] in _ASCII_WORD
    ):
        return match.group()  # checkout_failed, order__id: searchable as written
    return match.group().replace("_", "\\_")


def _discord(text: str) -> str:
    text = _strip_controls(text)
    text = text.translate(_DISCORD)
    if "_" in text:
        text = _UNDERSCORES.sub(_discord_underscores, text)
    if "\n" in text or text.lstrip(" \t")[:1] in _DISCORD_MARKERS:
        text = _DISCORD_LINE_START.sub(_discord_line_start, text)
    return _neutralise_mentions(_neutralise_links(text))


def _discord_code(text: str) -> str:
    # inside a code span or block Discord takes every character literally, backslashes
    # included: only a backtick could end it. "<…>" constructs, links and mentions are
    # broken all the same, invisibly, so the text stays inert wherever a template puts it.
    text = _strip_controls(text).translate(_DISCORD_CODE)
    return _neutralise_mentions(_neutralise_links(text))


# -- HTML (Telegram, Google Chat card text) ------------------------------------------------

# the single quote is left alone: templates quote attributes with ", and Telegram documents
# only &lt; &gt; &amp; &quot; among named entities
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _html(text: str) -> str:
    text = _strip_controls(text).translate(_HTML)
    return _neutralise_mentions(_neutralise_links(text))


# -- the registry --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dialect:
    """A chat markup dialect: how to show untrusted text literally in it."""

    name: str
    _escape: Callable[[str], str] = field(repr=False)
    _code: Callable[[str], str] = field(repr=False)

    def escape(self, text: str) -> str:
        """``text`` as markup that displays the same characters and means nothing: no
        mention, no link, no formatting, no control character."""
        return self._escape(text)

    def code(self, text: str) -> str:
        """``text`` made safe inside an inline code span or a code block of this dialect
        (it cannot end the span, and stays inert on renderers without code spans)."""
        return self._code(text)


DIALECTS: dict[str, Dialect] = {
    # console and JSON: nothing is markup, but control characters still go
    "plain": Dialect("plain", _plain, _plain),
    "mrkdwn": Dialect("mrkdwn", _mrkdwn, _mrkdwn_code),
    # the markdown escape already breaks code spans: DingTalk documents no code spans, so
    # text meant for one must be inert as ordinary text too
    "markdown": Dialect("markdown", _markdown, _markdown),
    "html": Dialect("html", _html, _html),
    # Discord: backslash escapes in text; code spans and blocks take text literally
    "discord": Dialect("discord", _discord, _discord_code),
}
