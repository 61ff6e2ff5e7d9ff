"""The one place erralert builds its HTTP clients: every sender — the delivery worker,
``erralert send-test`` — gets its httpx client here, so that all of them follow the same
rules (no redirects followed, the configured timeout and transport); and the worker sends
a message and judges the answer here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from erralert.channels.base import Channel, Judgement, Message, Verdict

__all__ = ["Sender", "Transport", "deliver", "open_sender", "sync_client"]

Transport = httpx.BaseTransport | httpx.AsyncBaseTransport
Sender = Callable[[httpx.Request], Awaitable[httpx.Response]]


def sync_client(
    transport: httpx.BaseTransport | None = None,
    timeout: float = 10.0,
    *,
    trust_env: bool = True,
) -> httpx.Client:
    """A blocking client (``trust_env=False``: ignore the proxy and certificate settings
    of the environment)."""
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=trust_env,
    )


@contextlib.asynccontextmanager
async def open_sender(transport: Transport | None, timeout: float) -> AsyncIterator[Sender]:
    """A function that sends a request and reads its whole answer, for the worker's loop."""
    if transport is None or isinstance(transport, httpx.AsyncBaseTransport):
        async with httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout), follow_redirects=False
        ) as session:

            async def send_async(request: httpx.Request) -> httpx.Response:
                response = await session.send(request)
                await response.aread()
                return response

            yield send_async
    else:
        # a sync-only transport (e.g. httpx.HTTPTransport): run it off the loop
        with sync_client(transport, timeout) as sync:

            async def send_sync(request: httpx.Request) -> httpx.Response:
                def call() -> httpx.Response:
                    response = sync.send(request)
                    response.read()
                    return response

                return await asyncio.to_thread(call)

            yield send_sync


async def deliver(channel: Channel, message: Message, send: Sender, now: float) -> Judgement:
    """Send ``message`` to ``channel`` (``now``: UNIX time, for signed requests) and judge
    the answer; a network failure is worth a retry."""
    if channel.local:
        channel.deliver_locally(message)
        return Judgement.ok()
    request = channel.build_request(message, now)
    try:
        response = await send(request)
    except httpx.TimeoutException:
        return Judgement(Verdict.RETRY, "timed out")
    except httpx.TransportError as exc:
        return Judgement(Verdict.RETRY, f"{type(exc).__name__}: {_masked(exc, channel)}")
    return channel.judge(response)


def _masked(exc: Exception, channel: Channel) -> str:
    # httpx errors can quote the URL; never let the token reach a log line
    return str(exc).replace(channel.url, channel.masked_url)
