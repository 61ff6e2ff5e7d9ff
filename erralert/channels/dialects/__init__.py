"""Untrusted text (exception messages, URLs, headers, code lines) in each chat platform's
markup: shown byte for byte, meaning nothing.

Everything an error carries is attacker-controlled: a request path, a header, the message
of an exception raised on bad input. Pasted into a chat message as is, such text can ping
the whole channel (Slack's ``<!channel>``, Mattermost's ``@all``), plant a phishing link
(``[login](http://…)``), or forge the structure of the alert (a ``# heading`` or
``> quote`` that looks like ours). And what a person copies from the alert (a module path,
a file path, a code line) must match the source.

So each platform's ``Dialect`` shows text with the platform's own means only: its escape
syntax where it has one (a backslash, an HTML character reference, Slack's three
entities), and only where a construct could actually form; a code span for a token that
would notify or link and has no escape; code spans and blocks that carry code verbatim.
No invisible character and no look-alike is ever inserted. The rules of each platform,
with the documentation they come from, are in its module (``erralert.channels.dialects.slack`` …).

Templates never call these directly: the renderer escapes every ``{{ … }}`` output for the
channel's dialect, and ``|code_span`` and ``|code_block`` make code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

from erralert.channels.dialects import (
    dingtalk,
    discord,
    feishu,
    googlechat,
    mattermost,
    plain,
    rocketchat,
    slack,
    teams,
    telegram,
    wecom,
)

__all__ = ["DIALECTS", "Dialect"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How to show untrusted text and code in one platform's markup.

    >>> DIALECTS["mattermost"].escape("hi @all, see **x**")
    'hi `@all`, see \\\\*\\\\*x\\\\*\\\\*'
    >>> DIALECTS["mattermost"].span("return a ** b")
    '`return a ** b`'
    """

    name: str
    has_code_spans: bool
    has_code_blocks: bool
    _escape: Callable[[str], str] = field(repr=False)
    _code: Callable[[str], str] = field(repr=False)
    _span: Callable[[str], str] = field(repr=False)
    _block: Callable[[str, str], str] = field(repr=False)

    def escape(self, text: str) -> str:
        """Prose: markup that shows the same characters, in which no mention, link,
        autolink, emphasis, raw HTML or block structure can form. Control characters
        and bidirectional overrides are removed."""
        return self._escape(text)

    def code(self, text: str) -> str:
        """Content for inside a single-backtick code span the template writes itself
        (``<code>…</code>`` on HTML platforms): verbatim but for what would end the span
        (a backtick, a line break), which is written just outside it."""
        return self._code(text)

    def span(self, text: str) -> str:
        """A complete inline code span carrying ``text`` verbatim, delimiters included;
        ``escape(text)`` where the platform cannot carry it in a span (no code spans,
        a character the span cannot hold, a mention the platform acts on in code)."""
        return self._span(text)

    def block(self, text: str, language: str = "") -> str:
        """A complete code block on lines of its own; on platforms without code blocks,
        each line as ``span(line)`` on a line of its own."""
        return self._block(text, language)


def _dialect(name: str, module: ModuleType) -> Dialect:
    return Dialect(
        name=name,
        has_code_spans=module.CODE_SPANS,
        has_code_blocks=module.CODE_BLOCKS,
        _escape=module.escape,
        _code=module.code,
        _span=module.span,
        _block=module.block,
    )


_PLATFORMS = {
    "plain": plain,  # the console and the generic JSON webhook
    "slack": slack,
    "discord": discord,
    "teams": teams,
    "googlechat": googlechat,
    "mattermost": mattermost,
    "rocketchat": rocketchat,
    "telegram": telegram,
    "dingtalk": dingtalk,
    "wecom": wecom,
    "feishu": feishu,
}
# the names dialects had before they were per platform, for channels (and the templates
# that test ``channel.dialect``) written against them
_ALIASES = {"mrkdwn": "slack", "markdown": "dingtalk", "html": "telegram"}

DIALECTS: dict[str, Dialect] = {name: _dialect(name, m) for name, m in _PLATFORMS.items()}
DIALECTS.update(
    {old: dataclasses.replace(DIALECTS[new], name=old) for old, new in _ALIASES.items()}
)
