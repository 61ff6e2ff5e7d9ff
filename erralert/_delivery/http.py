"""The one place erralert builds its HTTP clients: every sender — the delivery worker,
``erralert send-test`` — gets its clients here, from the same ``ProxyRoutes``, so that all
of them follow the same rules: each webhook's route (its proxy, or none), the CA bundle,
the timeout, no redirects followed, the transport when one is given. The worker also
sends a message and judges the answer here.

One client per distinct route, made on its first request: webhooks that share a proxy
share its connections. A route whose client cannot be made (its proxy's package was
uninstalled since the configuration was checked) fails its own sends, as a network error
worth a retry, and no other route's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

import httpx

from erralert._core.errors import ConfigError
from erralert._delivery.proxy_routes import ProxyRoutes, Route, Transport
from erralert.channels.base import Channel, Judgement, Message, Verdict

__all__ = [
    "ProxyRoutes",
    "Route",
    "Sender",
    "SyncSender",
    "Transport",
    "client_problems",
    "deliver",
    "open_sender",
    "sync_sender",
]

# send a request to a channel by the channel's route, and read the whole answer
Sender = Callable[[httpx.Request, Channel], Awaitable[httpx.Response]]
SyncSender = Callable[[httpx.Request, Channel], httpx.Response]

_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)


@contextlib.contextmanager
def sync_sender(routes: ProxyRoutes, timeout: float) -> Iterator[SyncSender]:
    """A blocking sender (``erralert send-test``, a sync-only transport in the worker)."""
    clients = _Clients(routes, lambda route: _sync_client(routes, route, timeout))
    try:

        def send(request: httpx.Request, channel: Channel) -> httpx.Response:
            response = clients.for_channel(channel).send(request)
            response.read()
            return response

        yield send
    finally:
        for client in clients.made:
            client.close()


@contextlib.asynccontextmanager
async def open_sender(
    routes: ProxyRoutes, timeout: float, channels: Sequence[Channel] = ()
) -> AsyncIterator[Sender]:
    """The worker loop's sender, its clients for ``channels`` made before the first send:
    making one loads certificates (tens of milliseconds, far more on a busy host), and a
    send booked for a slot must not start that late — the platform counts it when it
    arrives."""
    transport = routes.transport
    if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
        # a sync-only transport (e.g. httpx.HTTPTransport): run it off the loop
        with sync_sender(routes, timeout) as send_sync:

            async def send_in_thread(request: httpx.Request, channel: Channel) -> httpx.Response:
                return await asyncio.to_thread(send_sync, request, channel)

            yield send_in_thread
        return
    clients = _Clients(routes, lambda route: _async_client(routes, route, timeout))
    for channel in channels:
        if not channel.local:
            with contextlib.suppress(httpx.ProxyError):  # said again at its first send
                clients.for_channel(channel)
    try:

        async def send(request: httpx.Request, channel: Channel) -> httpx.Response:
            response = await clients.for_channel(channel).send(request)
            await response.aread()
            return response

        yield send
    finally:
        for client in clients.made:
            await client.aclose()


class _Clients(Generic[_Client]):
    """The clients of one sender, one per distinct route (all requests share one when a
    transport is given), each made on its first request."""

    def __init__(self, routes: ProxyRoutes, make: Callable[[Route], _Client]) -> None:
        self._routes = routes
        self._make: Callable[[Route], _Client] = make
        self._by_proxy: dict[str | None, _Client] = {}
        self._broken: dict[str | None, str] = {}  # why a route's client could not be made

    @property
    def made(self) -> list[_Client]:
        return list(self._by_proxy.values())

    def for_channel(self, channel: Channel) -> _Client:
        try:
            route = self._routes.route(channel)
        except ConfigError as exc:
            raise httpx.ProxyError(str(exc)) from None
        client = self._by_proxy.get(route.proxy)
        if client is not None:
            return client
        if route.proxy in self._broken:
            raise httpx.ProxyError(self._broken[route.proxy])
        try:
            made: _Client = self._make(route)
        except Exception as exc:  # kept: the next send on this route says the same at once
            reason = f"no HTTP client {route}: {type(exc).__name__}: {exc}"
            self._broken[route.proxy] = reason
            raise httpx.ProxyError(reason) from None
        self._by_proxy[route.proxy] = made
        return made


def _sync_client(routes: ProxyRoutes, route: Route, timeout: float) -> httpx.Client:
    given = routes.transport
    if given is not None and not isinstance(given, httpx.BaseTransport):
        raise TypeError(f"a blocking sender needs a blocking transport, got {given!r}")
    if given is None:  # a given transport brings its own certificates: ours are not loaded
        proxy, verify = _way(routes, route)
        given = httpx.HTTPTransport(proxy=proxy, verify=verify)
    return httpx.Client(
        transport=given, timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
    )


def _async_client(routes: ProxyRoutes, route: Route, timeout: float) -> httpx.AsyncClient:
    given = routes.transport
    if given is not None and not isinstance(given, httpx.AsyncBaseTransport):
        raise TypeError(f"the worker's loop needs an async transport, got {given!r}")
    if given is None:
        proxy, verify = _way(routes, route)
        given = httpx.AsyncHTTPTransport(proxy=proxy, verify=verify)
    return httpx.AsyncClient(
        transport=given, timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
    )


def _way(routes: ProxyRoutes, route: Route) -> tuple[httpx.Proxy | None, ssl.SSLContext]:
    """The proxy and the certificate check of ``route``'s transport. The route is decided
    already: the client must not read proxies from the environment again (its
    ``trust_env=False``)."""
    context = routes.verify_context()
    if route.proxy is None:
        return None, context
    # an https:// proxy's own certificate is checked as the platform's is (httpx refuses
    # a context for any other kind of proxy)
    https = route.proxy.lower().startswith("https:")
    return httpx.Proxy(route.proxy, ssl_context=context if https else None), context


async def deliver(channel: Channel, message: Message, send: Sender, now: float) -> Judgement:
    """Send ``message`` to ``channel`` (``now``: UNIX time, for signed requests) and judge
    the answer; a network failure is worth a retry."""
    if channel.local:
        channel.deliver_locally(message)
        return Judgement.ok()
    request = channel.build_request(message, now)
    try:
        response = await send(request, channel)
    except httpx.TimeoutException:
        return Judgement(Verdict.RETRY, "timed out")
    except httpx.TransportError as exc:
        return Judgement(Verdict.RETRY, f"{type(exc).__name__}: {_masked(exc, channel)}")
    return channel.judge(response)


def _masked(exc: Exception, channel: Channel) -> str:
    # httpx errors can quote the URL (or the proxy's); never let a credential reach a log line
    return channel.redact(str(exc).replace(channel.url, channel.masked_url))


def client_problems(routes: ProxyRoutes, channels: Iterable[Channel]) -> list[str]:
    """What would keep each channel from being sent to, found by deciding its route and
    making (then closing) the route's client as a sender does, sending nothing
    (``erralert check``)."""
    problems: list[str] = []
    clients = _Clients(routes, lambda route: _sync_client(routes, route, 1.0))
    try:
        for channel in channels:
            if channel.local:
                continue
            try:
                routes.route(channel)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            try:
                clients.for_channel(channel)
            except httpx.ProxyError as exc:
                problems.append(f"webhook URL {channel.masked_url}: {exc}")
    finally:
        for client in clients.made:
            client.close()
    return problems
