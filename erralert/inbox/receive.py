"""The inbox's webhook endpoints: every platform's request at the path its own service uses,
so that ``<platform>+http://127.0.0.1:8025<native path>`` reaches the right stand-in.

Each platform's module in ``erralert.inbox.platforms`` names the paths its service takes
messages at (``paths``: Slack's ``/services/{T}/{B}/{X}``, Discord's
``/api[/v10]/webhooks/{id}/{token}``, …) and one that reaches it (``example``, which
``erralert inbox`` prints as an erralert URL).

Every platform is ALSO reachable under ``/{platform}/<anything>`` (``/slack/x``,
``/lark/open-apis/bot/v2/hook/x``, ``/webhook/errors``): that is the only way to Lark (its
native path is Feishu's) and to the generic webhook, and it never leaves a doubt. A POST to
any other path is answered 404 and stored under the platform ``unknown``, so a wrong URL
shows up on the page too.

Each request goes through what the real service checks, in this order: the signature
(DingTalk, Feishu, Lark, webhook; only when the inbox knows the platform's secret), the rate
per hook, the platform's structure and limits, the keyword (when one is configured). The
answer is the service's own (``erralert.inbox.platforms``). Credentials in URLs (tokens,
keys) are not checked: the inbox cannot know them, any value is taken. Accepted and refused
requests alike are stored, the refusal with the platform's words.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from erralert._core.safelog import safe_logger
from erralert.inbox.metrics import InboxCounts, Outcome
from erralert.inbox.platforms.base import Answer, Incoming, Platform
from erralert.inbox.platforms.registry import LISTED, PLATFORMS
from erralert.inbox.ratelimit import RollingWindow
from erralert.inbox.store import InboxMessage, InboxStore
from erralert.inbox.titles import kind_of, title_of

__all__ = ["EXAMPLE_PATHS", "KIND_HEADER", "NATIVE_PATHS", "Receiver", "Route", "resolve"]

logger = safe_logger("erralert.inbox")

# the header erralert's channels name a message's kind in (alert | digest | storm); written
# here, not imported from the channels, whose requests the inbox is there to check
KIND_HEADER = "x-erralert-kind"
# query parameters that carry the inbox's own token (removed before a path is stored)
TOKEN_PARAMS = ("token", "inbox_token")
# characters kept of a refused body larger than this (above most platforms' limits,
# so a body refused for its size is still shown whole): the platform stores nothing of it,
# and the inbox reads bodies up to 2 MB, which it should neither keep nor render
REFUSED_EXCERPT = 64_000

# (platform, pattern of the native path); `hook` names the hook (its rate-limit bucket)
NATIVE_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (platform.name, re.compile(pattern))
    for platform in LISTED
    if platform.native
    for pattern in platform.paths
)
# a path per platform that reaches it (`erralert inbox` prints them, the demo uses them)
EXAMPLE_PATHS: dict[str, str] = {platform.name: platform.example for platform in LISTED}
# each platform's patterns, matched after a /{platform} prefix too (Lark: Feishu's)
_OWN_PATHS: dict[str, tuple[re.Pattern[str], ...]] = {
    name: tuple(re.compile(pattern) for pattern in platform.paths)
    for name, platform in PLATFORMS.items()
}

_PREFIXED = re.compile(r"/(?P<platform>[a-z]+)(?P<rest>/.*)?")


@dataclass(frozen=True, slots=True)
class Route:
    platform: str
    path: str  # the native part of the path (after a /{platform} prefix)
    hook: str


def resolve(path: str) -> Route | None:
    """The platform a request path is for, or None (see the module docstring)."""
    prefixed = _PREFIXED.fullmatch(path)
    if prefixed and prefixed["platform"] in PLATFORMS:
        platform, rest = prefixed["platform"], prefixed["rest"] or "/"
        for pattern in _OWN_PATHS[platform]:
            match = pattern.fullmatch(rest)
            if match:
                return Route(platform, rest, match["hook"] or rest)
        return Route(platform, rest, rest.strip("/") or platform)
    for name, pattern in NATIVE_PATHS:
        match = pattern.fullmatch(path)
        if match:
            return Route(name, path, match["hook"] or path)
    return None


class Receiver:
    """Checks, answers and stores webhook requests; the app's POST endpoint calls
    ``receive`` (plain Python, so tests and the app share it).

    ``secrets``: signing secrets by platform (``dingtalk``, ``feishu``, ``lark``,
    ``webhook``); ``keywords``: DingTalk/Feishu/Lark keyword security by platform (one
    keyword, or several separated by commas); ``clock``: UNIX seconds (freezegun-friendly
    by default); ``on_message``: called with every stored message (errors are logged)."""

    def __init__(
        self,
        store: InboxStore,
        *,
        secrets: Mapping[str, str] | None = None,
        keywords: Mapping[str, str] | None = None,
        token: str | None = None,
        clock: Callable[[], float] | None = None,
        on_message: Callable[[InboxMessage], None] | None = None,
    ) -> None:
        self.store = store
        self.secrets = dict(secrets or {})
        self.keywords = {
            platform: tuple(k.strip() for k in words.split(",") if k.strip())
            for platform, words in (keywords or {}).items()
        }
        for platform in self.keywords:
            if platform not in PLATFORMS or not PLATFORMS[platform].keyword_security:
                with_keywords = sorted(n for n, p in PLATFORMS.items() if p.keyword_security)
                raise ValueError(
                    f"keywords for {platform!r}: only {', '.join(with_keywords)} robots "
                    "have keyword security"
                )
        self._token = token
        self._clock = clock
        self._on_message = on_message
        self._windows: dict[tuple[str, str], RollingWindow] = {}
        self._lock = threading.Lock()
        self.counts = InboxCounts()  # what it answered, for /metrics

    def now(self) -> float:
        # time.time looked up at each call: freezegun's patch applies
        return self._clock() if self._clock is not None else time.time()

    def receive(
        self,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: float | None = None,
    ) -> tuple[Answer, InboxMessage]:
        """Answer one POST to ``path`` (``query``: the raw query string) and store it.
        ``received_at``: when it arrived (default: now), read by a caller that hands the
        work to another thread, where freezegun does not move the clock."""
        now = self.now() if received_at is None else received_at
        pairs = parse_qsl(query, keep_blank_values=True)
        shown_path = self._shown_path(path, pairs)
        raw = body.decode("utf-8", errors="replace")
        try:
            payload = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError):  # nested deeper than Python parses: not JSON here
            payload = None
        lowered = {k.lower(): v for k, v in headers.items()}
        kind = kind_of(lowered.get(KIND_HEADER), payload)
        route = resolve(path)
        if route is None:
            answer = Answer.json(
                404,
                {"error": "no chat platform uses this path", "see": "erralert.inbox.receive"},
                f"no platform at {path}: see the table of paths (e.g. /services/T/B/X for Slack,"
                " or /<platform>/anything)",
            )
            self.counts.count("unknown", "refused")
            raw, payload, cut_from = _kept(answer, raw, payload, len(body))
            message = self.store.add(
                platform="unknown",
                path=shown_path,
                raw=raw,
                status=answer.status,
                error=answer.error,
                kind=kind,
                payload=payload,
                received_at=now,
                cut_from=cut_from,
            )
            self._notify(message)
            return answer, message
        platform = PLATFORMS[route.platform]
        incoming = Incoming(
            platform=route.platform,
            path=route.path,
            hook=route.hook,
            query=dict(pairs),
            headers=lowered,
            body=body,
            payload=payload,
            received_at=now,
        )
        answer, outcome = self._answer(platform, incoming)
        self.counts.count(route.platform, outcome)
        title = title_of(route.platform, payload)
        raw, payload, cut_from = _kept(answer, raw, payload, len(body))
        message = self.store.add(
            platform=route.platform,
            path=shown_path,
            raw=raw,
            status=answer.status,
            error=answer.error,
            kind=kind,
            title=title,
            payload=payload,
            received_at=now,
            cut_from=cut_from,
        )
        self._notify(message)
        return answer, message

    def _answer(self, platform: Platform, incoming: Incoming) -> tuple[Answer, Outcome]:
        refusal = self._signature(platform, incoming)
        if refusal is not None:
            return refusal, "refused"
        wait = self._rate(platform, incoming)
        if wait > 0:
            return platform.throttled(wait), "rate_limited"
        refusal = platform.check(incoming)
        if refusal is not None:
            return refusal, "refused"
        keywords = self.keywords.get(platform.name)
        if keywords:
            refusal = platform.keyword_refusal(keywords, incoming)
            if refusal is not None:
                return refusal, "refused"
        return platform.accepted(incoming), "accepted"

    def _signature(self, platform: Platform, incoming: Incoming) -> Answer | None:
        secret = self.secrets.get(platform.name)
        return platform.signature_refusal(secret, incoming) if secret else None

    def _rate(self, platform: Platform, incoming: Incoming) -> float:
        """Seconds until the hook may take another message (0: now, and it is counted)."""
        if not platform.rates:
            return 0.0
        key = (platform.name, platform.rate_key(incoming))
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = RollingWindow(platform.rates)
            return window.take(incoming.received_at)

    def _shown_path(self, path: str, pairs: list[tuple[str, str]]) -> str:
        kept = [
            (k, v)
            for k, v in pairs
            if not (k in TOKEN_PARAMS and self._token is not None and v == self._token)
        ]
        return f"{path}?{urlencode(kept)}" if kept else path

    def _notify(self, message: InboxMessage) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(message)
        except Exception:  # a caller's callback must not cost the platform's answer
            logger.exception("erralert inbox: on_message failed")


def _kept(answer: Answer, raw: str, payload: Any, size: int) -> tuple[str, Any, int | None]:
    """What is stored of a body: all of it when accepted or small; of a larger refused one
    only its beginning as text (the raw body, the payload, the size it was cut from)."""
    if answer.error is None or len(raw) <= REFUSED_EXCERPT:
        return raw, payload, None
    return raw[:REFUSED_EXCERPT], None, size
