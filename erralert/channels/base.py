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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, tzinfo
from enum import Enum
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import SplitResult

import httpx

from erralert._core.errors import ConfigError
from erralert._core.links import Link
from erralert._core.notice import Kind
from erralert._core.pacing import Rate
from erralert._core.proxy import proxy_secrets
from erralert.channels.masking import (
    channel_secrets,
    longest_first,
    mask_url_secrets,
    register_channel,
    replace_secrets,
    url_secrets,
)

__all__ = [
    "KIND_HEADER",
    "Channel",
    "ChannelOptions",
    "Judgement",
    "LengthUnit",
    "Message",
    "Verdict",
    "each_mention",
    "judge_http_status",
    "parse_retry_after",
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
    # "direct" or a proxy URL (checked by erralert._core.proxy): how this webhook's requests
    # leave the process, whatever the proxy= option and the environment say; it may hold
    # the proxy's password, so it stays out of a repr
    proxy: str | None = field(default=None, repr=False)


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


class Channel:
    """Base class of every platform. Subclasses set the class attributes and implement
    ``build_request`` (and usually ``judge``)."""

    platform: ClassVar[str]
    dialect: ClassVar[str]  # a name in erralert.channels.DIALECTS: the platform's, or "plain"
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
    # a stand-in webhook with fake credentials, for `erralert preview` and `erralert check`
    # without a real one; None: the channel is not previewed
    sample_url: ClassVar[str | None] = None
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
        # `proxy` is about the way out, not the platform: every channel sent over HTTP has it
        supported = self.supported_options | (set() if self.local else {"proxy"})
        for option in fields(ChannelOptions):
            given = getattr(self.options, option.name) != getattr(default, option.name)
            if given and option.name not in supported:
                raise ConfigError(
                    f"webhook URL {self.masked_url}: option {option.name!r} is not supported "
                    f"by {self.platform} (it supports: {', '.join(sorted(self.supported_options))})"
                )
        # checked here, at configuration time, so that a mention the platform cannot make
        # fails at init() and not on the first alert of a new error
        for entry in self.options.mention:
            self.check_mention(entry)
        register_channel(self)

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
        return mask_url_secrets(self.url)

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
        that ``masked_url`` hides (raw and percent-decoded), the signing secret and the
        password of its ``?proxy=``, longest first."""
        # worked out once: every log record of the process is checked against them
        cached: tuple[str, ...] | None = self.__dict__.get("_secrets")
        if cached is None:
            cached = self.__dict__["_secrets"] = longest_first(
                {
                    *channel_secrets(self.url, self.masked_url, self.options.secret),
                    *proxy_secrets(self.options.proxy),
                }
            )
        return cached

    def redact(self, text: str) -> str:
        """``text`` with every credential of this channel replaced by ``***``."""
        return replace_secrets(text, self.secrets)

    def _redacted(self, judgement: Judgement, response: httpx.Response) -> Judgement:
        if not judgement.reason:
            return judgement
        secrets = self.secrets
        # the URL the request really went to (signatures, ?wait=true and the like); a
        # response made by hand has no request
        with contextlib.suppress(RuntimeError):
            secrets = longest_first({*secrets, *url_secrets(str(response.request.url))})
        reason = replace_secrets(judgement.reason, secrets)
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


KIND_HEADER = "X-Erralert-Kind"  # alert | digest | storm, on every request erralert sends


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
