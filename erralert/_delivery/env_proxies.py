"""The proxies the environment sets — ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and the
hosts ``NO_PROXY`` exempts — read as httpx reads them (a lower-case name wins over its
upper-case one; a value without a scheme is an HTTP proxy), and the one a URL's requests
take.

They are read once, when the alerter is built, and each webhook's route is fixed then: the
delivery worker, ``erralert send-test`` and ``erralert check`` route alike, and a variable
set later changes nothing behind the configuration's back.

``NO_PROXY`` entries, comma-separated: ``*`` (no proxy for anything), a host name (that host
and its subdomains: ``example.com``), a leading dot (its subdomains only: ``.example.com``),
an IP address or network (``10.0.0.0/8``, ``::1``), any of them with ``:port``, or a URL
(``https://chat.example.com``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["EnvProxies", "EnvProxy"]

_SCHEMES = ("http", "https", "all")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class EnvProxy:
    url: str
    variable: str  # the variable that set it, as spelt in the environment: "HTTPS_PROXY"


@dataclass(frozen=True, slots=True)
class _Exempt:
    """One ``NO_PROXY`` entry."""

    host: str  # "" for a network
    subdomains_only: bool = False
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None
    scheme: str | None = None

    def covers(self, scheme: str, host: str, port: int | None) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            try:
                return ipaddress.ip_address(host) in self.network
            except ValueError:
                return False
        if self.subdomains_only:
            return host.endswith("." + self.host)
        return host == self.host or host.endswith("." + self.host)


@dataclass(frozen=True, slots=True)
class EnvProxies:
    """The environment's proxies: by URL scheme (``http``, ``https``, ``all``), and the
    ``NO_PROXY`` exemptions (``everything``: ``NO_PROXY=*``)."""

    proxies: Mapping[str, EnvProxy]
    exempt: tuple[_Exempt, ...] = ()
    everything_exempt: bool = False
    variables: tuple[str, ...] = ()  # every proxy variable set, for saying what is ignored

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> EnvProxies:
        found: dict[str, tuple[str, str]] = {}
        for name, value in environ.items():
            if not name.lower().endswith("_proxy") or not value.strip():
                continue
            key = name.lower()[: -len("_proxy")]
            if name == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
                # a CGI request's "Proxy:" header arrives as HTTP_PROXY (httpoxy): not ours
                continue
            if key not in found or name.islower():
                found[key] = (name, value.strip())
        proxies = {
            scheme: EnvProxy(value if "://" in value else f"http://{value}", name)
            for scheme, (name, value) in found.items()
            if scheme in _SCHEMES
        }
        entries = [e.strip() for e in found.get("no", ("", ""))[1].split(",") if e.strip()]
        exempt = tuple(e for e in map(_exempt, entries) if e is not None)
        names = tuple(sorted(name for key, (name, _) in found.items() if key in (*_SCHEMES, "no")))
        return cls(proxies, exempt, "*" in entries, names)

    def proxy_for(self, url: str) -> EnvProxy | None:
        """The proxy the environment gives requests to ``url``, or None (none set, or
        ``NO_PROXY`` exempts its host)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        proxy = self.proxies.get(scheme) or self.proxies.get("all")
        if proxy is None or self.everything_exempt:
            return None
        host = (parts.hostname or "").rstrip(".")
        port = port if port is not None else _DEFAULT_PORTS.get(scheme)
        if any(entry.covers(scheme, host, port) for entry in self.exempt):
            return None
        return proxy


def _exempt(entry: str) -> _Exempt | None:
    scheme: str | None = None
    if "://" in entry:  # a URL: its scheme (all:// for any), host and port
        parts = urlsplit(entry)
        try:
            port = parts.port
        except ValueError:
            return None
        scheme = None if parts.scheme.lower() == "all" else parts.scheme.lower()
        host = parts.hostname or ""
    else:
        host, port = _host_and_port(entry)
    network = _network(host)
    if network is not None:
        return _Exempt("", network=network, port=port, scheme=scheme)
    host = host.lower().rstrip(".")
    if host.startswith(("*.", ".")):
        return _Exempt(host.lstrip("*."), subdomains_only=True, port=port, scheme=scheme)
    host = host.lstrip("*")
    return _Exempt(host, port=port, scheme=scheme) if host else None


def _host_and_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8080
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:  # host:port (an IPv6 address has more colons)
        host, _, port = entry.partition(":")
    else:
        host, port = entry, ""
    return host, int(port) if port.isdigit() else None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
