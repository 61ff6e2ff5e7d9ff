"""Discord webhooks (``https://discord.com/api/webhooks/{id}/{token}``).

The message is one embed: the title, the body as its description (Discord markdown), the
configured links as masked links in a field, a colour bar that tells alert, digest and
storm apart, and a footer and timestamp that every reader sees in their own time zone.
Mentions go in ``content``, the only place where Discord pings; ``allowed_mentions`` is
always sent, so only the message's own mentions can ping even if a template lets an
``@everyone`` through.

erralert adds ``?wait=true``: Discord then answers 200 with the message it stored, and a
refused message is reported (``400 {"code": 50035, "message": "Invalid Form Body", ...}``)
instead of vanishing behind a 204.

How untrusted text is shown, the ``discord`` dialect (``DIALECT``):

Discord markdown (message content, embed descriptions, field values and titles).

The rules, from Discord's "Markdown Text 101" and the simple-markdown rules its client
parses with:

- A backslash before any ASCII punctuation shows that character as itself (``\\*``, ``\\_``,
  ``\\<``, ``\\:``), so formatting characters get the platform's own escape, and a
  backslash that would escape something is doubled (``C:\\Users`` stays as it is).
- Bold ``**``, underline ``__``, strike ``~~`` and spoiler ``||`` pair any two runs, with
  no flanking rules: a run is escaped when another run of its character could pair with
  it. A single ``_`` needs a word boundary (JavaScript's, ASCII) outside it, so
  ``checkout_failed`` stays as written.
- ``<@id>``, ``<@&role>``, ``<#channel>``, ``<t:…>``, ``<:emoji:id>``, ``</cmd:id>`` and
  ``<https://…>`` need a raw ``<``: it is escaped. ``allowed_mentions: {"parse": []}`` is
  sent with every message, so nothing pings; ``@everyone`` and ``@here`` are escaped
  all the same, so they do not show as mentions.
- A bare ``https://`` URL is linked: its ``:`` is escaped.
- Block markers at a line start: ``#`` to ``###`` headings, ``-#`` subtext, ``>`` and
  ``>>>`` quotes, ``-``/``*``/``1.`` list items. No tables, no indented code.
- Inline code takes any number of backticks (``` ``a`b`` ```), with one space stripped
  next to a backtick at either end; code blocks take exactly ```` ``` ````, so a text
  holding ```` ``` ```` becomes one code span per line. Inside code nothing is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate
from erralert._core.wording import event_label, links_label
from erralert.channels.answers import json_object
from erralert.channels.base import (
    Channel,
    ChannelOptions,
    Judgement,
    Message,
    Verdict,
    each_mention,
    judge_http_status,
    parse_retry_after,
)
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.commonmark import (
    ASCII_PUNCTUATION,
    CodeMarkup,
    Markdown,
    code_functions,
    escape_markdown,
    longest_run,
)
from erralert.channels.masking import mask_url_secrets
from erralert.channels.payloads import accent_colour, json_body, markdown_links, post_json

__all__ = ["CHANNELS", "DIALECT", "DiscordChannel"]

# Discord's embed limits (discord-api-docs, "Embed Limits"); past any of them the whole
# message is refused with 400 / code 50035
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000  # title, description, field names and values, footer, author name
CONTENT_LIMIT = 2000  # the message text, where the mentions go
MENTION_LIMIT = 100  # ids in allowed_mentions.users, and in .roles

INVALID_FORM_BODY = 50035
_WEBHOOK_PATH = re.compile(r"/api(?:/v\d+)?/webhooks/(\d+)/([\w-]+)/?")
_SNOWFLAKE = re.compile(r"\d{15,21}")
_TOKEN = re.compile(r"[\w-]+")
# "123…" or "user:123…" (also "@123…") for a user, "role:987…" (also "&987…") for a role
_MENTION = re.compile(r"(role:|&|user:|@)?(\d{15,21})")


class DiscordChannel(Channel):
    platform = "discord"
    sample_url = "discord://123456789012345678/abcDEF-123_ghi"
    dialect = "discord"
    max_length = DESCRIPTION_LIMIT  # the body is the embed's description
    # per webhook 5 requests in any 2 s (the bucket Discord's rate-limit headers report,
    # discord-api-docs#367), and 30 messages a minute into one channel, which Discord staff
    # gave in the same thread for webhooks; neither is in the official docs
    rates = (Rate(5, 2.0), Rate(30, 60.0))
    supported_options = Channel.supported_options | {"mention"}
    # "/api/" and not "/api/webhooks/": a versioned path (/api/v10/webhooks/…) is recognised
    # too, and any other Discord API URL gets check_native's explanation
    native_urls = (
        ("discord.com", "/api/"),
        ("*.discord.com", "/api/"),  # ptb. and canary.
        ("discordapp.com", "/api/"),
        ("*.discordapp.com", "/api/"),
    )
    short_form = "discord://id/token"

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        if _WEBHOOK_PATH.fullmatch(parts.path):
            return None
        tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if tail in ("slack", "github"):
            return (
                f"this is Discord's /{tail}-compatible webhook URL; drop the /{tail} at the "
                "end, erralert sends Discord's own format"
            )
        return "a Discord webhook URL is https://discord.com/api/webhooks/{id}/{token}"

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        token = path.strip("/")
        if not _SNOWFLAKE.fullmatch(host) or not _TOKEN.fullmatch(token):
            raise ValueError(
                "the Discord short form is discord://{id}/{token}: the two parts of "
                "https://discord.com/api/webhooks/{id}/{token}"
            )
        return f"https://discord.com/api/webhooks/{host}/{token}"

    def __init__(self, url: str, options: ChannelOptions | None = None) -> None:
        super().__init__(url, options)  # each ?mention= entry was checked by check_mention
        # Discord's limits, checked here, at configuration time, so that too many mentions
        # fail at init() and not on the first alert of a new error (a message that routing
        # gives more is cut to them when it is built)
        users, roles, words = self._grouped(self.options.mention)
        too_many = max(len(users), len(roles)) > MENTION_LIMIT
        if too_many or len(_mention_text(users, roles, words)) > CONTENT_LIMIT:
            raise ConfigError(
                f"webhook URL {self.masked_url}: Discord mentions at most {MENTION_LIMIT} users "
                f"and {MENTION_LIMIT} roles, in at most {CONTENT_LIMIT} characters"
            )

    def mention_markup(self, mention: str) -> str:
        kind, ident = self._parse_mention(mention)
        return _markup(kind, ident)

    def _grouped(self, entries: tuple[str, ...]) -> tuple[list[str], list[str], list[str]]:
        """The user ids, role ids and ``@everyone``/``@here`` words of mention entries, each
        once, in order; an entry Discord cannot mention (only a message built by hand has
        one) is left out."""
        groups: dict[str, list[str]] = {"user": [], "role": [], "everyone": []}
        for kind, ident in each_mention(entries, self._parse_mention):
            groups[kind].append(ident)
        return groups["user"], groups["role"], groups["everyone"]

    def _parse_mention(self, mention: str) -> tuple[str, str]:
        """``("user", id)``, ``("role", id)`` or ``("everyone", "@everyone" / "@here")``."""
        lowered = mention.lower()
        if lowered in ("everyone", "all", "@everyone"):  # `all`: erralert's neutral spelling
            return "everyone", "@everyone"
        if lowered in ("here", "@here"):
            return "everyone", "@here"
        match = _MENTION.fullmatch(lowered)
        if match:
            return ("role" if match[1] in ("role:", "&") else "user"), match[2]
        raise ConfigError(
            f"webhook URL {self.masked_url}: Discord mention {mention!r} is not a user id "
            "(123456789012345678), a role (role:987654321098765432), everyone or here; "
            "copy ids with Discord's developer mode"
        )

    @property
    def masked_url(self) -> str:
        # the id and token are one credential, even where a segment looks like a plain word
        masked = mask_url_secrets(self.url)
        head, sep, rest = masked.partition("/webhooks/")
        if not sep:
            return masked
        query = rest.partition("?")[2]
        return f"{head}/webhooks/***/***" + (f"?{query}" if query else "")

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        if message.payload is not None:
            payload = dict(message.payload)
            # a payload template rarely thinks of it, and any error text it puts in `content`
            # could then ping: nobody is mentioned unless the template says so itself
            payload.setdefault("allowed_mentions", {"parse": []})
        else:
            payload = self.payload(message, now)
        return post_json(_wait_url(self.url), json_body(payload))

    def payload(self, message: Message, now: float | None = None) -> dict[str, Any]:
        """The JSON body for a rendered message (without a custom payload template)."""
        allowed: dict[str, Any] = {"parse": []}
        payload: dict[str, Any] = {}
        users, roles, words = _within_limits(*self._grouped(message.mentions))
        if users or roles or words:
            payload["content"] = _mention_text(users, roles, words)
            if words:  # @everyone and @here are both Discord's "everyone" type
                allowed["parse"] = ["everyone"]
            if users:
                allowed["users"] = users
            if roles:
                allowed["roles"] = roles
        event = event_label(message.event_id, message.locale)
        footer = f"erralert · {event}" if event else "erralert"
        embed: dict[str, Any] = {
            # an embed title takes markdown: the plain title is escaped like any text
            "title": _escaped_cut(message.title or message.kind, TITLE_LIMIT),
            "color": int(accent_colour(message).removeprefix("#"), 16),
            "footer": {"text": footer[:FOOTER_LIMIT]},
        }
        when = message.created_at or now
        if when:
            embed["timestamp"] = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
        links = _links_field(message.links, message.locale)
        if links:
            embed["fields"] = [links]
        # the renderer keeps the body under max_length; this guards against one that did not,
        # and keeps the embed's total (title, description, fields, footer) under Discord's
        # 6000 characters
        fields = sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", ()))
        used = len(embed["title"]) + len(footer) + fields
        room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - used)
        description = truncate(message.body, room, locale=message.locale).strip()
        if description:  # Discord refuses an empty description
            embed["description"] = description
        payload["embeds"] = [embed]
        payload["allowed_mentions"] = allowed
        return payload

    def judge(self, response: httpx.Response) -> Judgement:
        status = response.status_code
        if response.is_success:
            return Judgement.ok()
        answer = json_object(response)
        if answer is None:  # not Discord's JSON: Cloudflare or a proxy answered
            return judge_http_status(response)
        reason = f"HTTP {status}: {_describe(answer)}"
        if status == 429:
            scope = "global rate limit" if answer.get("global") else "rate limited"
            return Judgement(Verdict.RETRY, f"{reason} ({scope})", _retry_after(response, answer))
        if status >= 500 or status == 408:
            return Judgement(Verdict.RETRY, reason, parse_retry_after(response))
        hint = _HINTS.get(status)
        return Judgement(Verdict.FAIL, f"{reason}; {hint}" if hint else reason)


_HINTS = {
    401: "the webhook's token is wrong or was regenerated: copy the webhook URL again",
    403: "the webhook may not post there (a locked or archived thread, missing permissions)",
    404: "the webhook was deleted, or the URL is wrong: create one and copy its URL",
}


def _markup(kind: str, ident: str) -> str:
    """``<@id>`` for a user, ``<@&id>`` for a role, the word itself for everyone/here."""
    if kind == "user":
        return f"<@{ident}>"
    if kind == "role":
        return f"<@&{ident}>"
    return ident


def _mention_text(users: list[str], roles: list[str], words: list[str]) -> str:
    """The ``content`` that mentions them: users, then roles, then @everyone/@here."""
    return " ".join(
        [*(_markup("user", u) for u in users), *(_markup("role", r) for r in roles), *words]
    )


def _within_limits(
    users: list[str], roles: list[str], words: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """The mentions cut to what Discord takes: at most ``MENTION_LIMIT`` users and as many
    roles, in a ``content`` of at most ``CONTENT_LIMIT`` characters (a mention that would
    pass it is left out, so ``allowed_mentions`` lists exactly what ``content`` names)."""
    kept: dict[str, list[str]] = {"user": [], "role": [], "everyone": []}
    size = -1  # no space before the first mention
    candidates = [
        *(("user", u) for u in users[:MENTION_LIMIT]),
        *(("role", r) for r in roles[:MENTION_LIMIT]),
        *(("everyone", w) for w in words),
    ]
    for kind, ident in candidates:
        grown = size + 1 + len(_markup(kind, ident))
        if grown <= CONTENT_LIMIT:
            kept[kind].append(ident)
            size = grown
    return kept["user"], kept["role"], kept["everyone"]


def _links_field(links: tuple[Link, ...], locale: str) -> dict[str, Any] | None:
    """A field of masked links, ``[name](url)``, within a field value's 1024 characters;
    webhooks may send masked links ("Embed Limits" and "Markdown Text 101" in Discord's
    docs)."""
    value = markdown_links(links, DIALECT.escape, FIELD_VALUE_LIMIT)
    if not value:
        return None
    return {"name": links_label(locale), "value": value, "inline": False}


def _wait_url(url: str) -> str:
    """``url`` with ``wait=true``, its other query parameters kept byte for byte (a
    ``thread_id`` posts into a thread)."""
    base, _, query = url.partition("?")
    pairs = [p for p in query.split("&") if p and p.partition("=")[0] != "wait"]
    return f"{base}?{'&'.join([*pairs, 'wait=true'])}"


def _escaped_cut(text: str, limit: int) -> str:
    """``text`` escaped for Discord and cut to ``limit`` characters of markup, never inside
    an escape (a lone backslash would escape the ellipsis)."""
    escaped = DIALECT.escape(text)
    if len(escaped) <= limit:
        return escaped
    # the longest start of the text whose markup and an ellipsis fit: escaping only grows
    # with the text, so a binary search over the cut finds it
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(DIALECT.escape(text[:middle])) < limit:
            low = middle
        else:
            high = middle - 1
    return DIALECT.escape(text[:low]) + "…"


def _describe(answer: dict[str, Any]) -> str:
    """``Invalid Form Body (code 50035): embeds.0.description: Must be 4096 or fewer in
    length.`` — Discord's message, its code and, for a refused body, which fields and why."""
    text = str(answer.get("message") or "no message")
    if "code" in answer and answer["code"] != 0:
        text += f" (code {answer['code']})"
    errors = answer.get("errors")
    if isinstance(errors, dict):
        problems = list(_field_errors(errors, ""))
        if problems:
            text += ": " + "; ".join(problems[:5])
    return text[:500]


def _field_errors(tree: dict[str, Any], path: str) -> Iterator[str]:
    """``"embeds.0.title: Must be 256 or fewer in length."`` for each error in Discord's
    nested ``errors`` object, whose leaves are ``{"_errors": [{"code", "message"}]}``."""
    for key, value in tree.items():
        if key == "_errors" and isinstance(value, list):
            for error in value:
                if isinstance(error, dict):
                    yield f"{path or 'body'}: {error.get('message') or error.get('code')}"
        elif isinstance(value, dict):
            yield from _field_errors(value, f"{path}.{key}" if path else str(key))


def _retry_after(response: httpx.Response, answer: dict[str, Any]) -> float | None:
    """Seconds to wait after a 429. The body's ``retry_after`` is the precise one (a float,
    in seconds per Discord's docs), but requests without an API version in the URL were
    reported to get milliseconds (discord-api-docs#4722): when the ``Retry-After`` header
    (whole seconds) disagrees, the header wins."""
    header = parse_retry_after(response)
    value = answer.get("retry_after")
    body = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if body is None or body < 0:
        return header
    if header is None or body <= header + 1.0:
        return body
    return header


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (DiscordChannel,)


# -- the discord dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = True


def _backslash(char: str) -> str | None:
    return "\\" + char if char in ASCII_PUNCTUATION else None


def _span(text: str) -> str | None:
    # "```" anywhere makes a code block on Discord (no CommonMark fence rules)
    if "\n" in text or "```" in text:
        return None
    if not text:
        return ""
    fence = "`" * (longest_run(text) + 1)
    # Discord strips one space only where it stands next to a backtick of the text
    head = " " if text[0] == "`" else ""
    tail = " " if text[-1] == "`" else ""
    return f"{fence}{head}{text}{tail}{fence}"


_MARKDOWN_RULES = Markdown(
    escape_char=_backslash,
    span=_span,
    emphasis="*_~|",
    pairing="discord",
    angle=re.compile(r"<(?=[@#:/!&A-Za-z])"),
    entities=False,  # "&amp;" shows as written
    indented_code=False,
    tables=False,
    www_links=False,
    email_links=False,
    escaped_mentions=re.compile(r"@(?=(?:everyone|here)\b)"),
    subtext=True,
)
# a line break too: each line of a message is its own paragraph in some clients
_BACKTICKS = re.compile("`+|\n")


def escape(text: str) -> str:
    return escape_markdown(text, _MARKDOWN_RULES)


# Discord ends a block at the first ``` whatever the opening fence's length
code, span, block = code_functions(
    escape, CodeMarkup(_span, _BACKTICKS, refuse_block=lambda text: "```" in text)
)


DIALECT = Dialect.of(
    "discord",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
