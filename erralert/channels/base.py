"""The channel interface: build an ``httpx.Request`` from a rendered message and judge
the platform's ``httpx.Response``. Channels do no I/O themselves; one delivery worker
(``erralert._delivery.outbox``) sends for all of them, and tests use ``httpx.MockTransport``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import functools
import hashlib
import importlib.metadata
import json
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, tzinfo
from enum import Enum
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, unquote_plus, urlsplit

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.notice import Kind
from erralert._core.pacing import Rate
from erralert._core.truncate import truncate

__all__ = [
    "KIND_HEADER",
    "USER_AGENT",
    "Channel",
    "ChannelOptions",
    "Judgement",
    "LengthUnit",
    "Message",
    "Verdict",
    "accent_colour",
    "each_mention",
    "encode_within",
    "errcode_verdict",
    "json_body",
    "json_code",
    "json_number",
    "json_object",
    "judge_http_status",
    "links_within",
    "markdown_links",
    "mask_url",
    "parse_retry_after",
    "post_json",
    "redact_known_secrets",
    "self_hosted_hook",
    "url_secrets",
]

LengthUnit = Literal["chars", "bytes"]


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message for one channel, ready for ``Channel.build_request``."""

    kind: Kind
    title: str  # one line of plain text
    body: str  # the platform's markup, already escaped and cut to the channel's limit
    level: str = "error"
    fingerprint: str = ""
    event_id: str = ""
    created_at: float = 0.0  # UNIX seconds when the error was decided on
    # who this message mentions: raw entries as written in `?mention=` ("U0123ABC", "all",
    # "13800000000", "role:987…"…), the channel's own and those routing added (the route's
    # people, the culprit code's owners); each channel makes its platform's markup of them
    # when it builds the request. Empty: nobody is mentioned (anything but an alert of a new
    # error).
    mentions: tuple[str, ...] = ()
    # the configured links filled for this event (none for a storm), in the configured
    # order; each channel shows them as its platform's buttons, or as plain links
    links: tuple[Link, ...] = ()
    payload: dict[str, Any] | None = None  # from a `<name>.payload.j2`: the whole JSON body
    # the generic webhook sends the event itself; other channels ignore it
    data: dict[str, Any] | None = None
    template_error: str | None = None  # why the custom template failed, if it did
    # the renderer's language and time zone, for the words and times a channel adds itself
    # (a Feishu note, a Discord footer, a truncation line): see erralert._core.wording
    locale: str = "en"
    zone: tzinfo = UTC


class Verdict(Enum):
    OK = "ok"
    RETRY = "retry"  # transient: try again later (5xx, 429, throttle codes, timeouts)
    FAIL = "fail"  # the platform refused this message for good (bad payload, bad signature)


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: str = ""  # the platform's own words, for the log line
    retry_after: float | None = None  # seconds the platform asked us to wait

    @classmethod
    def ok(cls) -> Judgement:
        return cls(Verdict.OK)


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """The erralert options that ride in a webhook URL's query string."""

    secret: str | None = field(default=None, repr=False)  # a credential: never in a repr
    mention: tuple[str, ...] = ()
    template: str | None = None
    keyword: str | None = None
    rate: Rate | None = None
    name: str | None = None


_T = TypeVar("_T")


def each_mention(entries: Iterable[str], make: Callable[[str], _T]) -> tuple[_T, ...]:
    """``make(entry)`` for each of a message's mention entries, duplicates left out, in
    order. An entry ``make`` refuses with ``ConfigError`` (``check_mention`` refused it at
    configuration time; only a message built by hand has one) is left out rather than
    losing the whole message."""
    made: dict[_T, None] = {}
    for entry in entries:
        try:
            made[make(entry)] = None
        except ConfigError:
            continue
    return tuple(made)


def links_within(
    links: Iterable[Link], budget: int, cost: Callable[[Link], int]
) -> tuple[Link, ...]:
    """The first of ``links``, in order, whose ``cost`` (in the platform's unit: a button's
    JSON, a markdown link) together stays within ``budget``: the links a channel shows
    always leave the rest of its limit to the message, however many are configured."""
    kept: list[Link] = []
    spent = 0
    for link in links:
        spent += cost(link)
        if spent > budget:
            break
        kept.append(link)
    return tuple(kept)


def markdown_links(
    links: Iterable[Link], escape: Callable[[str], str], budget: int, unit: LengthUnit = "chars"
) -> str:
    """The links as one line of markdown links, ``[name](url)`` joined by " · ", as many
    as fit in ``budget`` (in ``unit``), in order: for platforms whose messages have no
    buttons. The name goes through the platform's ``escape`` like any text; a link's URL
    needs none (it holds no space, ``(`` or ``)`` that could end the link early)."""

    def size(text: str) -> int:
        return len(text.encode()) if unit == "bytes" else len(text)

    def markup(link: Link) -> str:
        return f"[{escape(link.name)}]({link.url})"

    separator = size(_LINK_SEPARATOR)
    # each link pays for a separator; the last one's is refunded by the budget
    shown = links_within(links, budget + separator, lambda link: size(markup(link)) + separator)
    return _LINK_SEPARATOR.join(markup(link) for link in shown)


_LINK_SEPARATOR = " · "


class Channel:
    """Base class of every platform. Subclasses set the class attributes and implement
    ``build_request`` (and usually ``judge``)."""

    platform: ClassVar[str]
    dialect: ClassVar[str]  # a name from erralert.channels.dialects: the platform's, or "plain"
    max_length: ClassVar[int]  # the body's limit on this platform
    length_unit: ClassVar[LengthUnit] = "chars"
    rates: ClassVar[tuple[Rate, ...]] = ()  # the platform's documented pacing
    local: ClassVar[bool] = False  # True: delivered by `deliver_locally`, not over HTTP
    # the ChannelOptions fields this platform can honour; any other one set is a ConfigError,
    # so that e.g. a `secret` on a platform without signing never silently does nothing
    supported_options: ClassVar[frozenset[str]] = frozenset({"template", "rate", "name"})
    # how a pasted native URL is recognised: (host, path prefix); "*.example.com" matches
    # subdomains. The registry builds its host table from these.
    native_urls: ClassVar[tuple[tuple[str, str], ...]] = ()
    # the short form as users write it, e.g. "slack://T…/B…/…"; None: there is none
    short_form: ClassVar[str | None] = None
    # a platform that shares another's templates (Lark: "feishu")
    template_family: ClassVar[str | None] = None

    @classmethod
    def check_native(cls, parts: SplitResult) -> str | None:
        """What a native URL (host and path prefix already matched) lacks, or None."""
        return None

    @classmethod
    def expand_short(cls, host: str, path: str) -> str:
        """The URL a short form ``<platform>://host/path`` stands for (its query string is
        appended by the registry). Raises ``ValueError`` saying what is wrong."""
        raise ValueError(f"{cls.platform} has no short form")

    def __init__(self, url: str, options: ChannelOptions | None = None) -> None:
        self.url = url  # where requests go, erralert's own options removed
        self.options = options or ChannelOptions()
        default = ChannelOptions()
        for option in fields(ChannelOptions):
            given = getattr(self.options, option.name) != getattr(default, option.name)
            if given and option.name not in self.supported_options:
                raise ConfigError(
                    f"webhook URL {self.masked_url}: option {option.name!r} is not supported "
                    f"by {self.platform} (it supports: {', '.join(sorted(self.supported_options))})"
                )
        # checked here, at configuration time, so that a mention the platform cannot make
        # fails at init() and not on the first alert of a new error
        for entry in self.options.mention:
            self.check_mention(entry)
        _register(self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every platform's judge() quotes the platform's answer for the log line, and an
        # answer may echo the request (a proxy's error page, a 400 quoting the URL): the
        # credentials are taken out of the reason here, once, so that no platform module
        # can forget to.
        judge = cls.__dict__.get("judge")
        if judge is not None and not getattr(judge, "_redacts", False):

            @functools.wraps(judge)
            def redacting(self: Channel, response: httpx.Response) -> Judgement:
                return self._redacted(judge(self, response), response)

            redacting._redacts = True  # type: ignore[attr-defined]
            setattr(cls, "judge", redacting)  # noqa: B010 - mypy refuses assigning a method
        # Every request says what kind of message it carries (X-Erralert-Kind: alert, digest
        # or storm), for a proxy that routes digests elsewhere and for the local inbox; set
        # here so that no platform module can forget it. Chat platforms ignore the header.
        build = cls.__dict__.get("build_request")
        if build is not None and not getattr(build, "_labels", False):

            @functools.wraps(build)
            def labelled(
                self: Channel, message: Message, now: float | None = None
            ) -> httpx.Request:
                request: httpx.Request = build(self, message, now)
                request.headers[KIND_HEADER] = message.kind
                return request

            labelled._labels = True  # type: ignore[attr-defined]
            setattr(cls, "build_request", labelled)  # noqa: B010

    def mention_markup(self, mention: str) -> str:
        """The platform's markup for one ``?mention=`` entry; raises ``ConfigError`` for one
        it cannot make. Platforms that mention through fields of their own (DingTalk's
        ``at``) keep the entry as given."""
        return mention

    def check_mention(self, entry: str) -> None:
        """Raise ``ConfigError`` when this channel cannot mention ``entry`` (a raw
        ``?mention=`` entry, or one routing adds: a route's people, a code owner): the
        platform mentions nobody, or the entry is malformed for it. Called at configuration
        time for every entry, so that a typo fails at init() and not on the first alert of a
        new error."""
        if "mention" not in self.supported_options:
            raise ConfigError(
                f"webhook URL {self.masked_url}: {self.platform} cannot mention anyone "
                f"(asked to mention {entry!r})"
            )
        if not entry or entry != entry.strip():
            raise ConfigError(
                f"webhook URL {self.masked_url}: {self.platform} mention {entry!r} is empty or "
                "has spaces around it"
            )
        self.mention_markup(entry)

    def mention_markups(self, entries: Iterable[str]) -> tuple[str, ...]:
        """The platform's markup for each of a message's mention entries, duplicates left
        out, in order. An entry the platform cannot make (``check_mention`` refused it at
        configuration time; only a message built by hand has one) is left out rather than
        losing the whole message."""
        return each_mention(entries, self.mention_markup)

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.options.name or f"{self.platform}:{self.masked_url}"

    @property
    def masked_url(self) -> str:
        """The URL with its credentials masked, for logs, reprs and errors."""
        return mask_url(self.url)

    @functools.cached_property
    def key(self) -> str:
        """The channel's identity in the pacing ledger and the spool: the same webhook is the
        same platform budget in every process. A digest, as the URL holds the secret."""
        return hashlib.sha256(self.url.encode("utf-8", "surrogatepass")).hexdigest()[:24]

    @property
    def template_names(self) -> tuple[str, ...]:
        """The templates to render with, first found wins: ``?template=``, the platform's
        own, then its family's (Lark renders with ``feishu`` unless a ``lark.j2`` exists)."""
        names = (self.options.template, self.platform, self.template_family)
        return tuple(dict.fromkeys(n for n in names if n))

    @property
    def pacing(self) -> tuple[Rate, ...]:
        return (self.options.rate,) if self.options.rate else self.rates

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential of this channel as it may appear in text: the parts of its URL
        that ``masked_url`` hides (raw and percent-decoded) and the signing secret, longest
        first."""
        # worked out once: every log record of the process is checked against them
        cached: tuple[str, ...] | None = self.__dict__.get("_secrets")
        if cached is None:
            shown = set(_URL_PARTS.split(self.masked_url))
            found = {s for s in url_secrets(self.url) if s not in shown}
            if self.options.secret:
                found.add(self.options.secret)
            cached = self.__dict__["_secrets"] = _longest_first(found)
        return cached

    def redact(self, text: str) -> str:
        """``text`` with every credential of this channel replaced by ``***``."""
        return _replace_all(text, self.secrets)

    def _redacted(self, judgement: Judgement, response: httpx.Response) -> Judgement:
        if not judgement.reason:
            return judgement
        secrets = self.secrets
        # the URL the request really went to (signatures, ?wait=true and the like); a
        # response made by hand has no request
        with contextlib.suppress(RuntimeError):
            secrets = _longest_first({*secrets, *url_secrets(str(response.request.url))})
        reason = _replace_all(judgement.reason, secrets)
        if reason == judgement.reason:
            return judgement
        return dataclasses.replace(judgement, reason=reason)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- the two halves of a delivery -----------------------------------------------------
    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        """The HTTP request that delivers ``message`` (HTTP channels override this)."""
        # a local channel (console) is delivered by deliver_locally, never over HTTP
        raise TypeError(f"{self.platform} messages are delivered locally, not over HTTP")

    def judge(self, response: httpx.Response) -> Judgement:
        """Default judgement: 2xx is success; 429 and 5xx are retried (honouring
        ``Retry-After``); anything else is refused for good."""
        return self._redacted(judge_http_status(response), response)

    def deliver_locally(self, message: Message) -> None:
        """Local channels (console) write the message themselves (they override this)."""
        raise TypeError(f"{self.platform} messages are delivered over HTTP, not locally")


# -- helpers the platform modules share -----------------------------------------------------


def _package_version() -> str:
    try:
        return importlib.metadata.version("erralert")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0"


USER_AGENT = f"erralert/{_package_version()}"
KIND_HEADER = "X-Erralert-Kind"  # alert | digest | storm, on every request erralert sends


def json_body(payload: object) -> bytes:
    """Compact UTF-8 JSON. Non-ASCII text is written as is, not as ``\\uXXXX`` escapes: the
    platforms that count bytes (DingTalk, WeCom) then see each character once, at its size.
    A lone surrogate (a Message or payload built by hand, a custom template's literal) has
    no UTF-8 form: it is sent as U+FFFD rather than failing the whole delivery."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode()


_SURROGATE = re.compile("[\ud800-\udfff]")


def post_json(
    url: str | httpx.URL, body: bytes, headers: Mapping[str, str] | None = None
) -> httpx.Request:
    """The POST every HTTP channel sends: ``body`` from ``json_body``, erralert's headers."""
    return httpx.Request(
        "POST",
        url,
        content=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        },
    )


# the colour bar of a message (Slack attachments, Discord embeds, Mattermost, Rocket.Chat):
# the kind of message first, then the severity of an alert
_KIND_COLOURS = {"storm": "#7C3AED", "digest": "#ECB22E"}  # purple, amber
_LEVEL_COLOURS = {"warning": "#F2C744", "info": "#36C5F0", "debug": "#9CA3AF"}  # yellow, blue, grey
_ALERT_COLOUR = "#E01E5A"  # red: errors, critical, fatal and any level not listed


def accent_colour(message: Message) -> str:
    """``"#RRGGBB"`` for a message: storm purple, digest amber, alert by level (red for
    errors, yellow for warnings)."""
    kind_colour = _KIND_COLOURS.get(message.kind)
    if kind_colour:
        return kind_colour
    return _LEVEL_COLOURS.get(message.level.lower(), _ALERT_COLOUR)


def judge_http_status(response: httpx.Response, error: str | None = None) -> Judgement:
    """By the HTTP status alone: 2xx succeeds; 408, 429 and 5xx are retried (honouring
    ``Retry-After``); the rest is refused for good. ``error``: the platform's own words
    for the reason, when a channel could read them (else the start of the body)."""
    status = response.status_code
    if 200 <= status < 300:
        return Judgement.ok()
    reason = f"HTTP {status}: {_short(response) if error is None else error}"
    if status == 429 or status >= 500 or status == 408:
        return Judgement(Verdict.RETRY, reason, parse_retry_after(response))
    return Judgement(Verdict.FAIL, reason)


def _short(response: httpx.Response, limit: int = 300) -> str:
    try:
        text = response.text
    except Exception:  # body not read or undecodable: the status says enough
        return ""
    return text.strip()[:limit]


def parse_retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def mask_url(url: str) -> str:
    """Hide everything that can be a credential: user info, every path segment that is not
    a plain word, every query value and the fragment. ``https://hooks.slack.com/services/T0AB/B0CD/XYZ``
    becomes ``https://hooks.slack.com/services/***/***/***``; in short forms such as
    ``dingtalk://<token>`` the host is the token, so a one-label host that is not a plain word
    is hidden too (``dingtalk://***``, but ``console://stdout`` and ``redis://localhost``)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<unparsable url>"
    userinfo, _, host = parts.netloc.rpartition("@")
    try:
        port = parts.port
    except ValueError:  # not host:port but a token with a colon (Telegram's "123:AbC")
        port, host = None, "***"
    host = host.rsplit(":", 1)[0] if port is not None else host
    if _ONE_LABEL.fullmatch(host) and not _STRUCTURAL.fullmatch(host):
        host = "***"
    netloc = ("***@" if userinfo else "") + host + (f":{port}" if port is not None else "")
    path = "/".join(s if _STRUCTURAL.fullmatch(s) else "***" for s in parts.path.split("/"))
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(f"{k if _QUERY_KEY.fullmatch(k) else '***'}=***" for k, _ in pairs)
    text = f"{parts.scheme}://{netloc}{path}" if parts.scheme else path
    return f"{text}?{query}" if query else text


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of ``url`` that can be credentials, as they may appear in text: user
    info, every path segment and query value that is not a plain word, a one-label host
    that is not one (short forms), each raw and percent-decoded. Parts shorter than four
    characters are left out: replacing "1.0" or "42" everywhere would garble a log line
    and hide nothing."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return (url,) if len(url) >= _MIN_SECRET else ()
    userinfo, _, host = parts.netloc.rpartition("@")
    pieces = [userinfo, *userinfo.split(":"), parts.fragment]
    if _ONE_LABEL.fullmatch(host) and not _STRUCTURAL.fullmatch(host):
        pieces.append(host)
    for segment in parts.path.split("/"):
        if not _STRUCTURAL.fullmatch(segment):
            pieces.append(segment)
            if segment.startswith("bot"):  # Telegram's bot<token>: the token alone too
                pieces.append(segment[3:])
    for pair in parts.query.split("&"):
        pieces.append(pair.partition("=")[2])
    found = {form for p in pieces for form in (p, unquote(p), unquote_plus(p))}
    return _longest_first(s for s in found if len(s) >= _MIN_SECRET)


def redact_known_secrets(text: str) -> str:
    """``text`` with the credentials of every channel made in this process replaced by
    ``***`` (for log records, whoever wrote them: httpx logs each request's URL)."""
    with _live_lock:
        channels = list(_live_channels)
    secrets = _longest_first({s for channel in channels for s in channel.secrets})
    return _replace_all(text, secrets)


def _longest_first(secrets: Iterable[str]) -> tuple[str, ...]:
    # a secret that contains another is replaced whole
    return tuple(sorted(secrets, key=lambda s: (-len(s), s)))


def _replace_all(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _register(channel: Channel) -> None:
    with _live_lock:
        _live_channels.add(channel)


_MIN_SECRET = 4
_URL_PARTS = re.compile(r"[/?&=#@]")
_live_channels: weakref.WeakSet[Channel] = weakref.WeakSet()
_live_lock = threading.Lock()

# path segments that carry structure, not secrets: "services", "api", "open-apis", "v2"
_STRUCTURAL = re.compile(r"[a-z][a-z-]{0,19}|v\d{1,2}|")
# query keys are names ("access_token", "api-version", "sig"); a key with digits may be a token
_QUERY_KEY = re.compile(r"[A-Za-z][A-Za-z_.-]{0,29}")
# a host without dots or colons: "localhost", or a token in an apprise-style short form
_ONE_LABEL = re.compile(r"[\w-]+")


def json_number(value: object) -> float | None:
    """A number from a platform's JSON answer, which may spell it as a string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def json_code(value: object) -> int | None:
    """An error code from a platform's JSON answer (``0``, ``"45009"``, ``-1``)."""
    number = json_number(value)
    return None if number is None or not number.is_integer() else int(number)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The platform's JSON answer when it is an object; None for anything else (a gateway's
    HTML page, an empty body)."""
    try:
        answer = json.loads(response.content)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def errcode_verdict(answer: Mapping[str, Any], *, retry: Mapping[int, float | None]) -> Judgement:
    """The verdict of a group robot's ``{"errcode": …, "errmsg": …}`` answer (DingTalk,
    WeCom): 0 is success; a code in ``retry`` is retried (after the wait it maps to, or the
    outbox's backoff for None); any other code refuses the message for good, in the
    platform's own words. The HTTP status was 200: these platforms answer 200 either way."""
    code = json_code(answer.get("errcode"))
    if code is None:
        return Judgement(Verdict.RETRY, f"no errcode in the answer: {answer!r:.300}")
    if code == 0:
        return Judgement.ok()
    reason = f"errcode {code}: {str(answer.get('errmsg', ''))[:300]}"
    if code in retry:
        return Judgement(Verdict.RETRY, reason, retry[code])
    return Judgement(Verdict.FAIL, reason)


# host[:port] or [ipv6][:port], and the path segments of a self-hosted server's prefix
_HOST_PORT = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def self_hosted_hook(
    host: str, path: str, *, tokens: int, token: re.Pattern[str], form: str, tokens_are: str
) -> str:
    """``https://host[/prefix]/hooks/<tokens>`` from the short form of a self-hosted
    server's webhook (``mattermost://host[:port][/prefix]/key``): the last ``tokens`` path
    segments are the hook's credentials, anything before them the server's path prefix (a
    pasted ``/hooks/`` is accepted). Raises ``ValueError`` naming ``form``; never quotes a
    token."""
    segments = [s for s in path.split("/") if s]
    if not host or len(segments) < tokens:
        raise ValueError(f"the short form is {form}")
    match = _HOST_PORT.fullmatch(host)
    # the regex takes up to five digits; 65535 is the largest port there is
    if not match or int(match["port"] or 0) > 65535:
        raise ValueError(f"the short form {form} has no valid host[:port]: {host!r}")
    prefix, keys = segments[:-tokens], segments[-tokens:]
    if prefix and prefix[-1] == "hooks":  # as pasted from the webhook URL
        prefix.pop()
    if not all(token.fullmatch(k) for k in keys) or not all(
        _PATH_SEGMENT.fullmatch(s) for s in prefix
    ):
        raise ValueError(f"{tokens_are} (in {form})")
    return f"https://{host}/{'/'.join([*prefix, 'hooks', *keys])}"


def encode_within(
    build: Callable[[str], Mapping[str, Any]],
    body: str,
    limit: int,
    *,
    margin: int,
    locale: str = "en",
) -> bytes:
    """The JSON bytes of ``build(body)``, the body cut (bytes, head and innermost tail
    kept, the truncation line in ``locale``'s words) until they fit in ``limit``. The
    renderer keeps bodies under ``max_length``; this guards against envelopes that grow
    with the body (a TextBlock or a ``<br>`` per line): each round cuts by the excess or in
    proportion, whichever keeps more, ``margin`` bytes more for good measure."""
    encoded = json_body(build(body))
    for _ in range(8):
        if len(encoded) <= limit:
            break
        size = len(body.encode())
        room = max(size - (len(encoded) - limit), size * limit // len(encoded))
        body = truncate(body, max(0, room - margin), "bytes", locale=locale)
        encoded = json_body(build(body))
    return encoded
