"""Telegram bots (Bot API ``sendMessage``): ``https://api.telegram.org/bot<token>/sendMessage?chat_id=<id>``.

The short form is ``telegram://<bot token>/<chat id>`` (apprise writes ``tgram://``); a
forum topic is picked with ``?message_thread_id=<id>``. The chat and the topic are taken
out of the URL and sent in the JSON body with the text (``parse_mode`` HTML, link previews
off): the URL then carries only the bot token, which ``masked_url`` hides.

The configured links are an inline keyboard of URL buttons under the message, three to a
row. Telegram refuses the whole message for a button whose URL's host has no dot
(``BUTTON_URL_INVALID``: ``http://localhost/…``, ``http://grafana/…``), so such a link is
a line at the end of the text instead, its URL as code.

Telegram counts the 4096 characters of a message *after* entity parsing, i.e. the text a
reader sees, and refuses the whole message when its HTML does not parse. The body is cut
by the renderer line by line, which may leave a tag open, cut a tag or an entity in half,
or close a tag whose opening line was dropped; ``repair_html`` puts that right before the
request is built, so erralert never sends markup Telegram cannot parse.

Telegram answers ``{"ok": true, ...}`` on success and ``{"ok": false, "error_code": N,
"description": "...", "parameters": {...}}`` otherwise; a 429 carries
``parameters.retry_after`` and a group that became a supergroup answers with
``parameters.migrate_to_chat_id``.

How untrusted text is shown, the ``telegram`` dialect (``DIALECT``):

Telegram HTML (``parse_mode: "HTML"``, the Bot API's "Formatting options").

The rules:

- "All ``<``, ``>`` and ``&`` symbols that are not a part of a tag or an HTML entity must be
  replaced with the corresponding HTML entities"; ``"`` is written ``&quot;`` too, so text
  is safe inside an attribute.
- Telegram finds ``@username`` mentions, URLs, ``www.`` names and mail addresses in the
  text by itself, and has no escape for them; it finds nothing inside ``<code>`` and
  ``<pre>``. So those tokens are shown as ``<code>``.
- Code spans are ``<code>``, code blocks ``<pre><code class="language-…">``; inside them
  only ``&``, ``<`` and ``>`` are entities (no attribute can be there: ``"`` stays as it
  is), so any text is carried verbatim.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate
from erralert._core.wording import TRUNCATION_LINE
from erralert.channels.answers import json_code, json_number, json_object
from erralert.channels.base import (
    Channel,
    ChannelOptions,
    Judgement,
    Message,
    Verdict,
    judge_http_status,
    parse_retry_after,
)
from erralert.channels.dialects import Dialect
from erralert.channels.dialects.controls import strip_controls
from erralert.channels.dialects.html import html_code, html_text
from erralert.channels.dialects.tokens import BARE_LINK, MENTION_WORD, may_hold_tokens, tokens
from erralert.channels.masking import mask_url_secrets
from erralert.channels.payloads import json_body, links_within, post_json

__all__ = [
    "CHANNELS",
    "DIALECT",
    "SAFE_LIMIT",
    "TEXT_LIMIT",
    "TelegramChannel",
    "repair_html",
    "visible_length",
]

TEXT_LIMIT = 4096  # characters of a message's text after entity parsing
# what erralert aims at: Telegram counts UTF-16 code units (an emoji outside the BMP is 2),
# and the margin covers any difference between its parser's count and ours
SAFE_LIMIT = 4000
TITLE_LIMIT = 250  # the renderer's limit; a Message built by hand is held to it too
BUTTONS_PER_ROW = 3
LINKS_BUDGET = 3000  # characters of the keyboard's JSON; it is not part of the text's 4096
LINK_LINES_BUDGET = 600  # visible characters of the links shown as lines of the text

_HOST = "api.telegram.org"
# "123456789:AAE…": the bot's numeric id, a colon, and the secret part
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
# a numeric chat id (groups and channels are negative) or a public "@channelusername"
_CHAT = re.compile(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{3,}")
_THREAD = re.compile(r"\d+")
_USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{3,31})")
_USER_ID = re.compile(r"\d{1,20}")
# erralert's spellings of "everybody"; Telegram has no such mention
_BROADCASTS = frozenset({"all", "here", "channel", "everyone"})
# the Bot API's own parameters that erralert moves from the URL into the body
_MOVED = ("chat_id", "message_thread_id")


class TelegramChannel(Channel):
    """A Telegram chat (group, supergroup, channel or forum topic) a bot posts to."""

    platform = "telegram"
    sample_url = "telegram://123456:ABC-DEF1234ghIkl/-1001234567890"
    dialect = "telegram"
    # of the body's markup: every tag and entity counts here but not in Telegram's count,
    # so the visible text is shorter still; the bold title line (up to 250) and a line of
    # mentions fit in the rest of SAFE_LIMIT
    max_length = 3700
    # "about 1 message per second" in one chat and "no more than 20 messages per minute"
    # in one group (Bot API FAQ, "My bot is hitting limits")
    rates = (Rate(1, 1.0), Rate(20, 60.0))
    supported_options = Channel.supported_options | {"mention"}
    native_urls = ((_HOST, "/bot"),)
    short_form = "telegram://<bot token>/<chat id>"

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        segments = parts.path.strip("/").split("/")
        if (
            len(segments) != 2
            or not _TOKEN.fullmatch(segments[0].removeprefix("bot"))
            or segments[1] != "sendMessage"
        ):
            return (
                "a Telegram URL is https://api.telegram.org/bot<token>/sendMessage?chat_id=<id> "
                "(the token as BotFather gives it: digits, a colon, then letters)"
            )
        if not _query_value(parts.query, "chat_id"):
            return "the Telegram URL has no chat_id (…/sendMessage?chat_id=<id>)"
        return None

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        token = unquote(host).removeprefix("bot")
        chats = [c for c in path.split("/") if c]
        if not _TOKEN.fullmatch(token):
            raise ValueError(
                "the Telegram short form is telegram://<bot token>/<chat id>, the token as "
                "BotFather gives it (digits, a colon, then letters)"
            )
        if len(chats) != 1:
            raise ValueError(
                "the Telegram short form names one chat: telegram://<bot token>/<chat id> "
                "(a forum topic is ?message_thread_id=<id>)"
            )
        chat = unquote(chats[0])
        return f"https://{_HOST}/bot{token}/sendMessage?chat_id={quote(chat, safe='@-')}"

    def __init__(self, url: str, options: ChannelOptions | None = None) -> None:
        super().__init__(url, options)
        parts = urlsplit(url)
        chat = _query_value(parts.query, "chat_id")
        thread = _query_value(parts.query, "message_thread_id")
        where = f"webhook URL {self.masked_url}"
        if not chat:
            raise ConfigError(
                f"{where}: no chat_id (…/sendMessage?chat_id=<id>, or the short form "
                "telegram://<bot token>/<chat id>)"
            )
        if not _CHAT.fullmatch(chat):
            raise ConfigError(
                f"{where}: chat_id {chat!r} is neither a numeric chat id (-100… for groups "
                "and channels) nor a public @channelusername"
            )
        if thread is not None and not _THREAD.fullmatch(thread):
            raise ConfigError(f"{where}: message_thread_id {thread!r} is not a number")
        # JSON numbers where the Bot API documents integers: a chat id as a string works
        # too, but a number is what every client sends
        self.chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        self.message_thread_id: int | None = None if thread is None else int(thread)
        # where requests go: the URL without the parameters moved into the body. Every
        # other query parameter is kept byte for byte, like the registry keeps them.
        kept = "&".join(
            pair for pair in parts.query.split("&") if pair and pair.partition("=")[0] not in _MOVED
        )
        self.endpoint = urlunsplit(parts._replace(query=kept, fragment=""))

    def mention_markup(self, mention: str) -> str:
        if mention.lower() in _BROADCASTS:
            raise ConfigError(
                f"webhook URL {self.masked_url}: Telegram has no mention of everyone "
                f"({mention!r}); name users by @username or by numeric user id"
            )
        if _USER_ID.fullmatch(mention):
            # a user without a username is mentioned by a link to their id
            return f'<a href="tg://user?id={mention}">user</a>'
        match = _USERNAME.fullmatch(mention)
        if match:
            return f"@{match[1]}"
        raise ConfigError(
            f"webhook URL {self.masked_url}: Telegram mention {mention!r} is neither a "
            "username (letters, digits and _, 4 to 32 long) nor a numeric user id"
        )

    @property
    def masked_url(self) -> str:
        # "bot***" says which segment was the token, and the method name stays readable;
        # host and query are masked as everywhere else
        parts = urlsplit(self.url)
        path = "/".join(_masked_segment(s) for s in parts.path.split("/"))
        masked, sep, query = mask_url_secrets(urlunsplit(parts._replace(path=""))).partition("?")
        return f"{masked}{path}{sep}{query}"

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        target: dict[str, Any] = {"chat_id": self.chat_id}
        if self.message_thread_id is not None:
            target["message_thread_id"] = self.message_thread_id
        if message.payload is not None:
            # a payload template cannot know the chat: it is added unless the template
            # names one itself
            return post_json(self.endpoint, json_body({**target, **message.payload}))
        return post_json(self.endpoint, json_body({**target, **self.payload(message)}))

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body for a rendered message, without the chat it goes to."""
        payload: dict[str, Any] = {
            "text": self.text(message),
            "parse_mode": "HTML",
            # the app's URLs in a traceback must not be fetched for a preview
            "link_preview_options": {"is_disabled": True},
        }
        keyboard = _keyboard([link for link in message.links if _button_url(link.url)])
        if keyboard:
            payload["reply_markup"] = {"inline_keyboard": keyboard}
        return payload

    def text(self, message: Message) -> str:
        """The message's HTML: the title in bold, the mentions, the body, repaired and
        within ``SAFE_LIMIT`` visible characters."""
        title = message.title or message.kind
        if len(title) > TITLE_LIMIT:
            title = title[: TITLE_LIMIT - 1] + "…"
        head = f"<b>{DIALECT.escape(title)}</b>"
        mentions = self.mention_markups(message.mentions)
        if mentions:
            head += "\n" + " ".join(mentions)
        tail = _link_lines([link for link in message.links if not _button_url(link.url)])
        room = max(0, SAFE_LIMIT - visible_length(head) - 1 - visible_length(tail))
        size = room  # of the body's markup
        body = repair_html(truncate(message.body, size, locale=message.locale))
        while body and visible_length(body) > room:
            # the markup fits, yet the visible text is longer in UTF-16 units (emoji and
            # other characters outside the BMP count twice): shrink in proportion
            size = max(0, min(size - 1, size * room // visible_length(body)))
            body = repair_html(truncate(message.body, size, locale=message.locale))
        text = f"{head}\n{body}" if body.strip() else head
        return text + tail

    def judge(self, response: httpx.Response) -> Judgement:
        answer = json_object(response)
        if answer is None:
            if response.is_success:
                # a 2xx page that is not the Bot API's JSON: a proxy or a captive portal
                # answered, so Telegram did not see the message
                return Judgement(Verdict.RETRY, f"not a Telegram answer: {response.text[:300]!r}")
            return judge_http_status(response)
        if answer.get("ok") is True:
            return Judgement.ok()
        code = json_code(answer.get("error_code")) or response.status_code
        said = " ".join(str(answer.get("description") or "").split())[:300] or f"HTTP {code}"
        parameters = answer.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        new_chat = parameters.get("migrate_to_chat_id")
        if new_chat is not None:
            return Judgement(
                Verdict.FAIL,
                f"the group became a supergroup: use chat_id {new_chat} (Telegram: {said})",
            )
        retry_after = json_number(parameters.get("retry_after"))
        if code == 429 or retry_after is not None:
            wait = retry_after if retry_after is not None else parse_retry_after(response)
            return Judgement(Verdict.RETRY, f"Telegram: {said}", wait)
        if code >= 500 or code == 408:
            return Judgement(Verdict.RETRY, f"Telegram: {said}", parse_retry_after(response))
        lowered = said.lower()
        if "can't parse entities" in lowered:
            return Judgement(
                Verdict.FAIL,
                "Telegram could not parse the message's HTML: a bug in erralert or in a "
                f"custom template (Telegram: {said})",
            )
        if "message is too long" in lowered:
            return Judgement(
                Verdict.FAIL,
                f"the text is over Telegram's {TEXT_LIMIT} characters: a bug in erralert or "
                f"in a custom template (Telegram: {said})",
            )
        if code == 401:
            return Judgement(
                Verdict.FAIL, f"the bot token is invalid or was revoked (Telegram: {said})"
            )
        if code == 403:
            return Judgement(
                Verdict.FAIL,
                "the bot may not post to this chat: it was kicked or blocked, or is not a "
                f"member (Telegram: {said})",
            )
        if code == 404:
            return Judgement(
                Verdict.FAIL, f"no such bot: the token in the URL is wrong (Telegram: {said})"
            )
        if "chat not found" in lowered:
            return Judgement(
                Verdict.FAIL,
                "chat not found: check chat_id, and that the bot was added to the chat "
                f"(Telegram: {said})",
            )
        if "thread not found" in lowered:
            return Judgement(
                Verdict.FAIL,
                f"the forum topic does not exist: check message_thread_id (Telegram: {said})",
            )
        return Judgement(Verdict.FAIL, f"Telegram: {said}")


# -- links ----------------------------------------------------------------------------------


def _button_url(url: str) -> bool:
    """Whether Telegram takes ``url`` for a button: "HTTP or tg:// URL" (Bot API,
    InlineKeyboardButton), and a host with a dot: ``http://localhost/…`` is refused with
    BUTTON_URL_INVALID (rubenlagus/TelegramBots#302)."""
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and "." in (parts.hostname or "")


def _keyboard(links: list[Link]) -> list[list[dict[str, str]]]:
    """URL buttons, three to a row (InlineKeyboardMarkup's rows of InlineKeyboardButton
    with ``text`` and ``url``); the text is plain, shown as written."""
    shown = links_within(links, LINKS_BUDGET, lambda link: len(json_body(_button(link))))
    buttons = [_button(link) for link in shown]
    return [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]


def _button(link: Link) -> dict[str, str]:
    return {"text": link.name, "url": link.url}


def _link_lines(links: list[Link]) -> str:
    """The links a button cannot carry, one ``name: url`` line each after a blank line,
    the URL as code (copied with a tap, never linked or previewed)."""
    shown = links_within(links, LINK_LINES_BUDGET, lambda link: len(link.name) + len(link.url) + 3)
    lines = [f"{DIALECT.escape(link.name)}: {DIALECT.span(link.url)}" for link in shown]
    return "\n\n" + "\n".join(lines) if lines else ""


# -- HTML the Bot API accepts ---------------------------------------------------------------

# the tags of Telegram's HTML style; anything else is shown as text
_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",  # <span class="tg-spoiler">
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
# tags that mean the same without attributes, so a cut can reopen them
_REOPENABLE = _TAGS - {"a", "span", "tg-emoji"}
_TOKENS = re.compile(
    # a whole tag
    r"(?P<tag><(?P<close>/?)(?P<name>[A-Za-z][\w-]*)(?P<attrs>\s[^<>]*)?>)"
    # a tag cut in half by truncation, which appends "…" at the end of the line it cuts
    r"|(?P<cut_tag><[/A-Za-z][^<>\n]*…(?=\n|$))"
    # the entities Telegram knows: all numeric ones and four named ones
    r"|(?P<entity>&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|lt|gt|amp|quot);)"
    r"|(?P<cut_entity>&#?[0-9A-Za-z]{0,8}…(?=\n|$))"
    r"|(?P<bare>[<>&])"
)
# the line truncate() puts where it dropped lines, in any language
_MARKER = re.compile(rf"((?:^|\n)(?:{TRUNCATION_LINE.pattern})(?:\n|$))")
_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_TAG_TEXT = re.compile(r"<[^<>]*>")


def repair_html(text: str) -> str:
    """``text`` as HTML Telegram can parse: every tag it knows balanced and properly
    nested, every other ``<``, ``>`` and ``&`` escaped, tags and entities cut in half by
    truncation dropped. Tags left open where truncation dropped lines are closed before
    its ``… truncated …`` line and reopened after it, so a cut ``<pre>`` block stays one
    block on each side."""
    pieces = _MARKER.split(text)
    # odd indexes are the marker lines themselves: plain text, kept as they are
    return "".join(p if i % 2 else _repair_segment(p) for i, p in enumerate(pieces))


def _repair_segment(text: str) -> str:
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # open tags: (name, written)
    # closing tags at the start of a segment whose opening tags were cut off; reopened
    # at the segment's start (outermost first) as long as nothing else was written
    reopened: list[str] = []
    reopening = True
    pos = 0
    for match in _TOKENS.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        if match["tag"] is not None:
            name = match["name"].lower()
            if name not in _TAGS:
                out.append(html.escape(match[0], quote=False))
            elif not match["close"]:
                written = _may_nest(name, [n for n, w in stack if w])
                stack.append((name, written))
                if written:
                    out.append(match[0])
                    reopening = False
            elif any(n == name for n, _ in stack):
                while stack:
                    open_name, written = stack.pop()
                    if written:
                        out.append(f"</{open_name}>")
                    if open_name == name:
                        break
                reopening = False
            elif (
                reopening
                and not stack
                and name in _REOPENABLE
                and "".join(out).strip()  # an empty pair would be no use
                and _nests([name, *reopened])
            ):
                reopened.insert(0, name)
                out.insert(0, f"<{name}>")
                out.append(f"</{name}>")
            # else: a closing tag without its opening one, dropped
        elif match["cut_tag"] is not None or match["cut_entity"] is not None:
            out.append("…")
        elif match["entity"] is not None:
            out.append(match[0])
        else:
            out.append(_ESCAPES[match[0]])
    out.append(text[pos:])
    out.extend(f"</{name}>" for name, written in reversed(stack) if written)
    return "".join(out)


def _may_nest(name: str, ancestors: list[str]) -> bool:
    """Whether Telegram accepts tag ``name`` inside ``ancestors`` (outermost first)."""
    if "code" in ancestors:
        return False  # code contains no other entity
    if "pre" in ancestors:
        return name == "code" and ancestors[-1] == "pre"  # <pre><code class="language-…">
    # neither a quote nor a link nests in itself
    return not (name in ("blockquote", "a") and name in ancestors)


def _nests(chain: list[str]) -> bool:
    """Whether tags opened in this order (outermost first) nest as Telegram requires."""
    return all(_may_nest(chain[i], chain[:i]) for i in range(1, len(chain)))


def visible_length(text: str) -> int:
    """The length Telegram limits: the text after entity parsing (tags removed, entities
    decoded), in UTF-16 code units, which is what its message entities are measured in."""
    shown = html.unescape(_TAG_TEXT.sub("", text))
    return len(shown.encode("utf-16-le", "surrogatepass")) // 2


# -- small helpers --------------------------------------------------------------------------


def _masked_segment(segment: str) -> str:
    if segment.startswith("bot") and len(segment) > 3:
        return "bot***"
    # an API method ("sendMessage") or a word of a proxy's path; anything else may be secret
    return segment if re.fullmatch(r"[A-Za-z]{0,20}", segment) else "***"


def _query_value(query: str, key: str) -> str | None:
    """The percent-decoded value of ``key`` in a raw query string, if present."""
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == key:
            return unquote(value).strip()
    return None


# the registry's entry: this module's channels (and DIALECT below)
CHANNELS: tuple[type[Channel], ...] = (TelegramChannel,)


# -- the telegram dialect: untrusted text in the platform's markup ----------

CODE_SPANS = True
CODE_BLOCKS = True

_AUTOLINKED = tokens(BARE_LINK, MENTION_WORD)


def escape(text: str) -> str:
    text = strip_controls(text)
    out: list[str] = []
    pos = 0
    for match in _AUTOLINKED.finditer(text) if may_hold_tokens(text) else ():
        out.append(html_text(text[pos : match.start()]))
        out.append(f"<code>{html_text(match.group())}</code>")
        pos = match.end()
    out.append(html_text(text[pos:]))
    return "".join(out)


def code(text: str) -> str:
    return html_code(strip_controls(text))


def span(text: str) -> str:
    text = strip_controls(text)
    return f"<code>{html_code(text)}</code>" if text else ""


def block(text: str, language: str = "") -> str:
    text = html_code(strip_controls(text))
    if re.fullmatch(r"[\w+#.-]{1,32}", language):
        return f'<pre><code class="language-{language}">{text}</code></pre>'
    return f"<pre>{text}</pre>"


DIALECT = Dialect.of(
    "telegram",
    code_spans=CODE_SPANS,
    code_blocks=CODE_BLOCKS,
    escape=escape,
    code=code,
    span=span,
    block=block,
)
