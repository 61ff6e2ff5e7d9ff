"""Slack mrkdwn (and Google Chat's plain text, which follows it) as safe HTML."""

from __future__ import annotations

import re

from erralert.inbox.markup.safe import chip, esc, link

__all__ = ["mrkdwn"]

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
