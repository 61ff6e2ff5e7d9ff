"""A proxy setting as users write it — ``http://127.0.0.1:7890``,
``socks5h://user:pw@proxy.corp:1080`` or ``direct`` — checked, and shown with its password
masked. ``?proxy=`` in a webhook URL, the ``proxy=`` option (``ERRALERT_PROXY``, the TOML
file) and the environment's ``HTTPS_PROXY`` are all read through here, so that each says
the same thing about the same mistake.
"""

from __future__ import annotations

import importlib
from urllib.parse import SplitResult, unquote, urlsplit

from erralert._core.errors import ConfigError

__all__ = [
    "DIRECT",
    "PROXY_SCHEMES",
    "check_proxy",
    "mask_proxy",
    "proxy_problem",
    "proxy_secrets",
    "socks_problem",
]

DIRECT = "direct"  # no proxy at all, whatever the environment says
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")  # what httpx can speak to a proxy
_SOCKS = ("socks5", "socks5h")
_SCHEMES_SAID = "http, https, socks5 or socks5h"


def check_proxy(text: str, name: str) -> str:
    """``text`` as a proxy setting: ``"direct"`` (any case) or a proxy URL, stripped.
    Raises :class:`ConfigError` ``"{name} '…': why"`` (the password masked) for anything
    else; ``name`` says where it was written (``"ERRALERT_PROXY"``, ``"webhook URL …: proxy"``)."""
    value = text.strip()
    if value.lower() == DIRECT:
        return DIRECT
    problem = proxy_problem(value)
    if problem is not None:
        raise ConfigError(f"{name} {mask_proxy(value)!r}: {problem}")
    return value


def proxy_problem(url: str) -> str | None:
    """Why ``url`` is not a proxy URL httpx can use, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    scheme = parts.scheme.lower()
    if "://" not in url or not scheme:
        return f"not a URL: write scheme://host:port ({_SCHEMES_SAID}), or {DIRECT!r} for none"
    if scheme not in PROXY_SCHEMES:
        problem = f"unknown scheme {scheme}:// (expected {_SCHEMES_SAID})"
        if scheme.startswith("socks"):
            problem += "; write socks5h:// to have the proxy resolve the platform's name"
        return problem
    if not parts.hostname:
        return "the URL has no host"
    if scheme in _SOCKS and port is None:
        return f"a SOCKS proxy URL needs its port ({scheme}://host:1080)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "a proxy URL is scheme://[user:password@]host:port, with nothing after it"
    return None


def socks_problem(url: str) -> str | None:
    """What keeps the SOCKS proxy ``url`` from working in this process (httpx speaks
    SOCKS through the socksio package, an extra), or None — also for any other proxy."""
    if urlsplit(url).scheme.lower() not in _SOCKS:
        return None
    try:
        # what httpx imports when it builds the proxy's transport
        importlib.import_module("socksio")
    except ImportError:
        return "needs the socksio package: pip install 'erralert[socks]'"
    return None


def mask_proxy(url: str) -> str:
    """``url`` with its password (not the user name) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable url>"
    if password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return SplitResult(parts.scheme, f"{user}:***@{host}", *parts[2:]).geturl()


def proxy_secrets(url: str | None) -> tuple[str, ...]:
    """The password of the proxy ``url``, as written and percent-decoded (none: ``()``),
    for taking out of log lines."""
    if not url:
        return ()
    try:
        password = urlsplit(url).password
    except ValueError:
        return ()
    if not password:
        return ()
    return tuple(dict.fromkeys((password, unquote(password))))
