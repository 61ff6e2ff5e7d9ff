"""What every imitated platform shares: the request as its service sees it (``Incoming``),
the inbox's answer (``Answer``), and the rules a platform overrides (``Platform``).

Each platform's own rules are in the module named after it; ``registry`` lists them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from erralert.inbox.ratelimit import RateLimit

__all__ = ["Answer", "Incoming", "Platform", "errcode", "has_keyword", "retry_header"]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One webhook request, as the platform's service sees it."""

    platform: str
    path: str  # without the query string
    hook: str  # the part of the path that names the hook (its token, its space …)
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    payload: Any  # the parsed JSON body, None when it is not JSON
    received_at: float  # UNIX seconds


@dataclass(frozen=True, slots=True)
class Answer:
    """What the inbox answers, and (``error``) why it refused, for the page."""

    status: int
    body: bytes = b""
    media_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None  # None: accepted

    @classmethod
    def json(
        cls,
        status: int,
        document: object,
        error: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Answer:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, "application/json", headers, error)

    @classmethod
    def text(cls, status: int, text: str, error: str | None = None, **kw: Any) -> Answer:
        return cls(status, text.encode(), "text/plain; charset=utf-8", error=error, **kw)


def has_keyword(text: str, keywords: tuple[str, ...]) -> bool:
    return any(keyword in text for keyword in keywords)


def retry_header(wait: float) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", str(max(1, math.ceil(wait)))),)


class Platform:
    """The rules of one platform; subclasses override what differs."""

    name: ClassVar[str]
    rates: ClassVar[tuple[RateLimit, ...]] = ()  # enforced per hook (``rate_key``)
    # DingTalk, Feishu and Lark robots may require a keyword in every message
    keyword_security: ClassVar[bool] = False

    def rate_key(self, incoming: Incoming) -> str:
        return incoming.hook

    def check(self, incoming: Incoming) -> Answer | None:
        """The service's refusal of this request, or None when it would take it."""
        return None

    def text_of(self, payload: Any) -> str:
        """Every text of the message, for the keyword check."""
        return json.dumps(payload, ensure_ascii=False)

    def signature_refusal(self, secret: str, incoming: Incoming) -> Answer | None:
        """The service's refusal of a request not signed with ``secret``; None when the
        signature matches, and always for a platform that signs nothing."""
        return None

    def keyword_refusal(self, keywords: tuple[str, ...], incoming: Incoming) -> Answer | None:
        """The service's refusal of a message without any of ``keywords``; None when one
        is there, and always for a platform without keyword security."""
        return None

    def accepted(self, incoming: Incoming) -> Answer:
        return Answer.text(200, "ok")

    def throttled(self, wait: float) -> Answer:
        return Answer.json(429, {"error": "too many requests"}, "rate limited", retry_header(wait))


def errcode(code: int, message: str) -> Answer:
    """DingTalk's and WeCom's answer: HTTP 200, the outcome in ``errcode`` (0: taken)."""
    return Answer.json(
        200,
        {"errcode": code, "errmsg": message},
        None if code == 0 else f"errcode {code}: {message}",
    )
