"""No blocking call on the event loop, as BlockBuster (Starlette's detector) sees it.

BlockBuster makes ``os.getcwd``, ``os.path.abspath``, a contended lock's ``acquire`` … raise
``BlockingError`` when called on a running event loop. erralert never raises into the app,
so a blocking call of its own would not fail the request: it would be swallowed, and cost
the alert (or, in the display paths, quietly degrade it). So these tests check what
arrives, and that erralert logged no failure of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from blockbuster import BlockBuster
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

import erralert
from erralert.integrations.asgi import Message, Scope

WEBHOOK = "webhook+https://alerts.shop.test/hook"  # the generic JSON channel: the whole event
HERE = "tests/test_blockbuster.py"  # as the alert shows it: relative to the repository


async def checkout(request: Request) -> None:
    raise KeyError("cart-7")


def scope(path: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"shop.test")],
        "server": ("shop.test", 80),
        "client": ("203.0.113.9", 50000),
    }


@pytest.fixture
def blockbuster() -> Iterator[BlockBuster]:
    detector = BlockBuster()
    yield detector
    detector.deactivate()


@pytest.fixture
def erralert_failures(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    caplog.set_level(logging.WARNING, logger="erralert")
    failures: list[str] = []
    yield failures
    failures += [r.getMessage() for r in caplog.records if r.name.startswith("erralert")]


async def serve(app: erralert.ASGIMiddleware, requests: int, sent: list[httpx.Request]) -> int:
    """Start the lifespan, serve ``requests`` failing requests, end the lifespan; what the
    webhook had received when the server was told the lifespan was over."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    delivered_at_shutdown = -1

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        nonlocal delivered_at_shutdown
        if message["type"] == "lifespan.shutdown.complete":
            delivered_at_shutdown = len(sent)

    async def body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    responses: list[Message] = []

    async def answer(message: Message) -> None:
        responses.append(message)

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    )
    await inbox.put({"type": "lifespan.startup"})
    for _ in range(requests):
        with pytest.raises(KeyError, match="cart-7"):
            await app(scope("/checkout"), body, answer)
    assert [m["status"] for m in responses if m["type"] == "http.response.start"] == [
        500
    ] * requests
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 30)
    return delivered_at_shutdown


def test_an_async_app_under_blockbuster_gets_its_alert_and_digest(
    blockbuster: BlockBuster,
    erralert_failures: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the app adds to sys.path after erralert was imported (plugins, a src layout)
    monkeypatch.syspath_prepend(str(tmp_path))
    sent: list[httpx.Request] = []

    def webhook(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, text="ok")

    alerter = erralert.Alerter(
        [WEBHOOK], transport=httpx.MockTransport(webhook), shutdown_timeout=10
    )
    app = erralert.ASGIMiddleware(
        Starlette(routes=[Route("/checkout", checkout, methods=["POST"])]), alerter=alerter
    )

    async def main() -> int:
        blockbuster.activate()  # on the loop, from the first request to the lifespan's end
        try:
            return await serve(app, 3, sent)
        finally:
            blockbuster.deactivate()

    try:
        delivered_at_shutdown = asyncio.run(main())
    finally:
        alerter.close(0.1)
    # the alert, and the digest of the two repeats the end of the lifespan sent early,
    # both delivered before the server heard that the lifespan was over
    assert delivered_at_shutdown == 2
    alert, digest = (json.loads(request.content) for request in sent)
    assert (alert["kind"], digest["kind"]) == ("alert", "digest")
    assert digest["occurrences"]["count"] == 2
    error = alert["event"]["exceptions"][-1]
    assert (error["type"], error["message"]) == ("KeyError", "'cart-7'")
    culprit = error["frames"][-1]  # classified and shown without asking the OS anything
    assert (culprit["function"], culprit["filename"], culprit["in_app"]) == (
        "checkout",
        HERE,
        True,
    )
    assert alert["event"]["request"]["path"] == "/checkout"
    assert erralert_failures == []
