"""Which way each channel's requests leave the process — through which proxy, or straight
to the platform — and which certificates they trust: decided and checked once, when the
configuration is read, for every sender alike (``erralert._delivery.http`` builds the
clients from it).

Precedence, highest first: the webhook's own ``?proxy=URL`` or ``?proxy=direct``; the
``proxy=`` option (``ERRALERT_PROXY``, the TOML file), a URL or ``direct``; the
environment's ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``
(``erralert._delivery.env_proxies``). ``direct`` means no proxy, the environment ignored.

A proxy that cannot work — an unknown scheme, SOCKS without the socksio package — and a CA
bundle that cannot be read are a ``ConfigError`` here, naming the webhook and the proxy
(its password masked), never a worker that stops on its first message.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx

from erralert._core.errors import ConfigError
from erralert._core.proxy import DIRECT, check_proxy, mask_proxy, proxy_problem, socks_problem
from erralert._core.safelog import safe_logger
from erralert._delivery.env_proxies import EnvProxies
from erralert.channels.base import Channel

__all__ = ["ProxyRoutes", "Route", "Transport"]

logger = safe_logger()

Transport = httpx.BaseTransport | httpx.AsyncBaseTransport


@dataclass(frozen=True, slots=True)
class Route:
    """The way one channel's requests go."""

    proxy: str | None = None  # the proxy's URL; None: straight to the platform
    source: str = ""  # what chose it: "?proxy=", "proxy=", "HTTPS_PROXY", …; "": nothing did

    def __str__(self) -> str:
        """``via http://127.0.0.1:7890 (?proxy=)``, ``direct (proxy=)``, ``direct``."""
        way = "direct" if self.proxy is None else f"via {mask_proxy(self.proxy)}"
        return f"{way} ({self.source})" if self.source else way


class ProxyRoutes:
    """The HTTP settings every sender of one configuration shares: ``proxy`` (a URL,
    ``"direct"``, or None: the environment decides), ``ca_bundle`` (a PEM file of CA
    certificates trusted besides the usual ones) and ``transport`` (an httpx transport that
    sends every request itself: no proxy or CA bundle can be honoured with it).

    Raises :class:`ConfigError` for a setting that cannot work; ``route(channel)`` raises
    it for a channel whose route cannot (``check(channels)`` asks for each).
    """

    def __init__(
        self,
        *,
        proxy: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        transport: Transport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if proxy is not None and not isinstance(proxy, str):
            raise ConfigError(f"proxy: expected a URL or 'direct', got {type(proxy).__name__}")
        self.proxy = None if proxy is None else check_proxy(proxy, "proxy")
        self.transport = transport
        self.env = EnvProxies.read(os.environ if environ is None else environ)
        if transport is not None:
            _refuse_with_transport(self.proxy, ca_bundle)
            if self.env.variables:
                # honoured as given: a transport routes its requests itself; said once, here
                logger.warning(
                    "erralert: transport= sends every request itself, so the environment's "
                    "%s %s not used",
                    ", ".join(self.env.variables),
                    "is" if len(self.env.variables) == 1 else "are",
                )
        self.ca_bundle = None if ca_bundle is None else os.fspath(ca_bundle)
        self._context = None if self.ca_bundle is None else _ca_context(self.ca_bundle)
        self._routes: dict[Channel, Route] = {}

    def verify_context(self) -> ssl.SSLContext:
        """The certificates every client trusts: the CA bundle's besides the usual ones, or
        the usual ones (certifi's, or SSL_CERT_FILE / SSL_CERT_DIR's). Made once, on the
        first client's demand (loading them takes tens of milliseconds), and shared by the
        clients of every route."""
        if self._context is None:
            self._context = httpx.create_ssl_context(trust_env=True)
        return self._context

    def route(self, channel: Channel) -> Route:
        """The way ``channel``'s requests go; :class:`ConfigError` naming the webhook and
        the proxy when it cannot work here."""
        known = self._routes.get(channel)
        if known is None:
            known = self._routes[channel] = self._decide(channel)
        return known

    def check(self, channels: Iterable[Channel]) -> None:
        """Raise the first channel's :class:`ConfigError` whose route cannot work."""
        for channel in channels:
            if not channel.local:
                self.route(channel)

    def _decide(self, channel: Channel) -> Route:
        asked = channel.options.proxy
        if self.transport is not None:
            if asked is not None:
                raise ConfigError(
                    f"webhook URL {channel.masked_url}: ?proxy= cannot be honoured with "
                    "transport=, which sends every request itself: give the proxy to the "
                    "transport (httpx.HTTPTransport(proxy=…)) or leave one of them out"
                )
            return Route(None, "transport=")
        if asked is not None:
            route = _chosen(asked, "?proxy=")
        elif self.proxy is not None:
            route = _chosen(self.proxy, "proxy=")
        else:
            found = self.env.proxy_for(channel.url)
            route = Route() if found is None else Route(found.url, found.variable)
        if route.proxy is not None:
            problem = proxy_problem(route.proxy) or socks_problem(route.proxy)
            if problem is not None:
                raise ConfigError(
                    f"webhook URL {channel.masked_url}: proxy {mask_proxy(route.proxy)!r} "
                    f"(from {route.source}): {problem}"
                )
        return route


def _chosen(setting: str, source: str) -> Route:
    return Route(None if setting == DIRECT else setting, source)


def _refuse_with_transport(proxy: str | None, ca_bundle: object) -> None:
    for name, value in (("proxy", proxy), ("ca_bundle", ca_bundle)):
        if value is not None:
            raise ConfigError(
                f"{name}= cannot be honoured with transport=, which sends every request "
                f"itself: configure the transport (httpx.HTTPTransport(proxy=…, verify=…)) "
                f"or leave one of them out"
            )


def _ca_context(path: str) -> ssl.SSLContext:
    """The usual CA certificates (certifi's, or SSL_CERT_FILE / SSL_CERT_DIR's) and those of
    the PEM file ``path``."""
    try:
        context = httpx.create_ssl_context(trust_env=True)
        context.load_verify_locations(cafile=path)
    except ssl.SSLError as exc:  # before OSError, its base class
        raise ConfigError(
            f"ca_bundle {path!r}: not a PEM file of CA certificates ({exc.reason or exc})"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"ca_bundle {path!r}: cannot read the file: {reason}") from None
    return context
