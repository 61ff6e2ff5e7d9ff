"""The generic JSON webhook: ``webhook+https://example.com/hooks/errors``.

erralert POSTs one JSON document per message (schema version 1)::

    {"version": 1, "kind": "alert" | "digest" | "storm",
     "event": {...}, "occurrences": {...}, "storm": {...} | null,
     "links": [{"name": "source", "url": "https://…"}, ...],
     "title": "ValueError: bad input", "text": "<the rendered webhook.j2 body>"}

``links`` are the configured links filled for this event (``links=`` option; empty for a
storm summary and when none is configured).

``event``, ``occurrences`` and ``storm`` are described in the README. A
``webhook.payload.j2`` template replaces the whole document. 2xx is success; 408, 429 and
5xx are retried (honouring ``Retry-After``); any other status drops the message.

With ``?secret=…`` every request is signed, so the receiver can tell erralert's requests from
anyone else's::

    X-Erralert-Timestamp: 1718000000            (UNIX seconds)
    X-Erralert-Signature: sha256=<hex HMAC-SHA256(secret, b"1718000000." + raw body)>

To verify, recompute the HMAC over the timestamp, a dot and the raw request body (the bytes,
before any JSON parsing), compare in constant time and refuse old timestamps::

    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(f"sha256={expected}", signature) and abs(time.time() - int(ts)) < 300

``verify_signature()`` does exactly that for Python receivers.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from erralert._core.notice import SCHEMA_VERSION
from erralert.channels.base import Channel, Message
from erralert.channels.dialects import plain
from erralert.channels.payloads import json_body, post_json

__all__ = [
    "CHANNELS",
    "DIALECT",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookChannel",
    "sign",
    "verify_signature",
]

TIMESTAMP_HEADER = "X-Erralert-Timestamp"
SIGNATURE_HEADER = "X-Erralert-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Erralert-Signature`` value: ``"sha256=<hex>"``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """True when ``signature`` (the ``X-Erralert-Signature`` header) is erralert's for this
    ``timestamp`` (the ``X-Erralert-Timestamp`` header) and raw ``body``, and the timestamp is
    within ``tolerance`` seconds of ``now`` (so a captured request cannot be replayed later)."""
    try:
        when = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - when) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, when, body), signature)


class WebhookChannel(Channel):
    platform = "webhook"
    sample_url = "webhook+https://alerts.example.com/erralert"
    dialect = "plain"
    max_length = 100000
    supported_options = Channel.supported_options | {"secret"}

    def build_request(self, message: Message, now: float | None = None) -> httpx.Request:
        if message.payload is not None:
            document = message.payload
        else:
            document = {
                "version": SCHEMA_VERSION,
                "kind": message.kind,
                **(message.data or {}),
                "links": [{"name": link.name, "url": link.url} for link in message.links],
                "title": message.title,
                "text": message.body,
            }
        body = json_body(document)
        headers = {}
        if self.options.secret:
            timestamp = int(time.time() if now is None else now)
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(self.options.secret, timestamp, body)
        return post_json(self.url, body, headers)


# the registry's entry: this module's channels and their dialect
CHANNELS: tuple[type[Channel], ...] = (WebhookChannel,)
DIALECT = plain.DIALECT  # nothing is markup
