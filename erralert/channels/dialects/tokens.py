"""Text that a chat client turns into a link or a mention by itself: bare URLs, ``www.``
names, mail addresses and ``@name`` words. Platforms without an escape for them show
them as inline code spans instead."""

from __future__ import annotations

import re

__all__ = ["BARE_LINK", "MENTION_WORD", "may_hold_tokens", "tokens"]

# GFM's extended autolinks (and what Slack, Telegram and Rocket.Chat link the same way): a
# scheme URL, a "www." name, a mail address; each runs to the next space or "<"
BARE_LINK = (
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,31}://[^\s<>]+"
    r"|(?<![\w.-])[wW]{3}\.[^\s<>]+"
    # starting only where an address can start: a run of letters is tried once, not at
    # each of its characters (which would take quadratic time)
    r"|(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
# "@all", "@channel", "@here", "@user.name": an "@" not inside a word or an address; a run
# like "@all@all" is one token, or the second "@all" would follow the first one's code span
# (a backtick, not a word) and ring
MENTION_WORD = r"(?<![\w@.+-])@[A-Za-z0-9_][\w.-]*(?:@[\w.-]*)*"


def tokens(*patterns: str) -> re.Pattern[str]:
    """One pattern matching any of ``patterns`` (the first listed wins at a position)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# every token holds one of these: a fast scan spares the token search on most text
_HINTS = re.compile(r"://|@|[wW]{3}\.|\]\(")


def may_hold_tokens(text: str) -> bool:
    """Whether ``text`` could hold a token at all (most text cannot)."""
    return _HINTS.search(text) is not None
