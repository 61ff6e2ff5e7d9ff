"""Text that a chat client turns into a link or a mention by itself: bare URLs, ``www.``
names, mail addresses and ``@name`` words. Platforms without an escape for them show
them as inline code spans instead."""

from __future__ import annotations

import re

__all__ = ["BARE_LINK", "MENTION_WORD", "tokens"]

# GFM's extended autolinks (and what Slack, Telegram and Rocket.Chat link the same way): a
# scheme URL, a "www." name, a mail address; each runs to the next space or "<"
BARE_LINK = (
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,31}://[^\s<>]+"
    r"|(?<![\w.-])[wW]{3}\.[^\s<>]+"
    r"|[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
# "@all", "@channel", "@here", "@user.name": an "@" not inside a word or an address
MENTION_WORD = r"(?<![\w@.+-])@[A-Za-z0-9_][\w.-]*"


def tokens(*patterns: str) -> re.Pattern[str]:
    """One pattern matching any of ``patterns`` (the first listed wins at a position)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))
