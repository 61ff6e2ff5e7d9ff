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
with the documentation they come from, are in its platform's module (``erralert.channels.slack``
…), built from the shared primitives here: CommonMark escaping (``commonmark``), control
characters (``controls``), autolinked tokens (``tokens``), HTML text (``html``) and plain text
(``plain``, the console's and the generic webhook's).

Templates never call these directly: the renderer escapes every ``{{ … }}`` output for the
channel's dialect, and ``|code_span`` and ``|code_block`` make code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Dialect"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How to show untrusted text and code in one platform's markup.

    >>> from erralert.channels.mattermost import DIALECT
    >>> DIALECT.escape("hi @all, see **x**")
    'hi `@all`, see \\\\*\\\\*x\\\\*\\\\*'
    >>> DIALECT.span("return a ** b")
    '`return a ** b`'
    """

    name: str
    has_code_spans: bool
    has_code_blocks: bool
    _escape: Callable[[str], str] = field(repr=False)
    _code: Callable[[str], str] = field(repr=False)
    _span: Callable[[str], str] = field(repr=False)
    _block: Callable[[str, str], str] = field(repr=False)

    @classmethod
    def of(
        cls,
        name: str,
        *,
        code_spans: bool,
        code_blocks: bool,
        escape: Callable[[str], str],
        code: Callable[[str], str],
        span: Callable[[str], str],
        block: Callable[[str, str], str],
    ) -> Dialect:
        """The dialect made of a platform module's four functions (see the methods below)."""
        return cls(name, code_spans, code_blocks, escape, code, span, block)

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
