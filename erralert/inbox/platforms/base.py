"""What every imitated platform shares: the request as its service sees it (``Incoming``),
the inbox's answer (``Answer``), and what a platform defines or overrides (``Platform``):
its name and label, its paths, its rules and answers, its notification title, its view.

Each platform's own is in the module named after it; ``registry`` finds them.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from erralert.inbox.markup.markdown import Flavour, markdown
from erralert.inbox.markup.safe import esc
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


class Platform(ABC):
    """One imitated platform: what the inbox serves, checks, answers and shows for it.
    Subclasses say what is theirs and override what differs; each concrete subclass in a
    module of ``erralert.inbox.platforms`` is a platform the inbox imitates."""

    name: ClassVar[str]  # the name in its erralert URL (``slack+http://…``)
    label: ClassVar[str]  # the page's name for it
    # where it comes in the lists a person reads (the example URLs ``erralert inbox``
    # prints, the table of native paths): the most used platforms first
    rank: ClassVar[int]
    # patterns of the paths its service takes messages at, matched whole; the group
    # ``hook`` names the hook (its rate-limit bucket; empty: the path itself)
    paths: ClassVar[tuple[str, ...]] = ()
    # False: its paths are another platform's, so only ``/{name}/…`` reaches it (Lark)
    native: ClassVar[bool] = True
    example: ClassVar[str]  # a path that reaches it: ``erralert inbox`` prints it, the demo uses it
    flavour: ClassVar[Flavour | None] = None  # its markdown, when it reads markdown
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

    @property
    def signed(self) -> bool:
        """Whether the platform checks a signature (its module answers for a wrong one),
        so that ``erralert inbox --secret NAME=…`` means something for it."""
        return type(self).signature_refusal is not Platform.signature_refusal

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

    @abstractmethod
    def title(self, payload: dict[str, Any]) -> str:
        """The summary line a phone's notification shows of ``payload`` (its markup still
        in it: ``erralert.inbox.titles`` makes one plain line of it)."""

    @abstractmethod
    def view(self, payload: dict[str, Any]) -> str:
        """``payload`` as the platform's app shows it on a phone: safe HTML, made only
        with ``erralert.inbox.markup``."""

    def markup(self, text: str) -> str:
        """One string of a payload in the markup the platform parses it as, as safe HTML."""
        return markdown(text, self.flavour) if self.flavour is not None else esc(text)


def errcode(code: int, message: str) -> Answer:
    """DingTalk's and WeCom's answer: HTTP 200, the outcome in ``errcode`` (0: taken)."""
    return Answer.json(
        200,
        {"errcode": code, "errmsg": message},
        None if code == 0 else f"errcode {code}: {message}",
    )
