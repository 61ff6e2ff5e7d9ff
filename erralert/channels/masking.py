"""Credentials out of what erralert shows and logs: a webhook URL with its secret parts
masked (``mask_url_secrets``), the secret parts themselves (``url_secrets``), and log text
with the credentials of every channel made in this process replaced (``redact_known_secrets``).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

__all__ = [
    "channel_secrets",
    "longest_first",
    "mask_url_secrets",
    "redact_known_secrets",
    "register_channel",
    "replace_secrets",
    "url_secrets",
]


class _HasSecrets(Protocol):
    @property
    def secrets(self) -> tuple[str, ...]: ...


def mask_url_secrets(url: str) -> str:
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
    return longest_first(s for s in found if len(s) >= _MIN_SECRET)


def redact_known_secrets(text: str) -> str:
    """``text`` with the credentials of every channel made in this process replaced by
    ``***`` (for log records, whoever wrote them: httpx logs each request's URL)."""
    with _live_lock:
        channels = list(_live_channels)
    secrets = longest_first({s for channel in channels for s in channel.secrets})
    return replace_secrets(text, secrets)


def longest_first(secrets: Iterable[str]) -> tuple[str, ...]:
    # a secret that contains another is replaced whole
    return tuple(sorted(secrets, key=lambda s: (-len(s), s)))


def replace_secrets(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def register_channel(channel: _HasSecrets) -> None:
    with _live_lock:
        _live_channels.add(channel)


_MIN_SECRET = 4
_URL_PARTS = re.compile(r"[/?&=#@]")
_live_channels: weakref.WeakSet[_HasSecrets] = weakref.WeakSet()
_live_lock = threading.Lock()

# path segments that carry structure, not secrets: "services", "api", "open-apis", "v2"
_STRUCTURAL = re.compile(r"[a-z][a-z-]{0,19}|v\d{1,2}|")
# query keys are names ("access_token", "api-version", "sig"); a key with digits may be a token
_QUERY_KEY = re.compile(r"[A-Za-z][A-Za-z_.-]{0,29}")
# a host without dots or colons: "localhost", or a token in an apprise-style short form
_ONE_LABEL = re.compile(r"[\w-]+")


def channel_secrets(url: str, masked: str, secret: str | None) -> tuple[str, ...]:
    """Every credential of a channel at ``url`` signing with ``secret`` as it may appear in
    text: the parts of the URL that its ``masked`` form hides (raw and percent-decoded)
    and the signing secret, longest first."""
    shown = set(_URL_PARTS.split(masked))
    found = {s for s in url_secrets(url) if s not in shown}
    if secret:
        found.add(secret)
    return longest_first(found)
