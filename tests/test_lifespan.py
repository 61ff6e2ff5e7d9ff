"""The end of an ASGI lifespan: the final flush waits off the event loop.

The flush waits for the delivery worker (at most ``shutdown_timeout``); on the loop it would
stop every other task of the app for that long. Here the webhook hangs until a task on the
loop lets it answer: only a flush that leaves the loop free can see that answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar, get

import erralert
from erralert.integrations.asgi import ASGIApp, Message, Scope
from erralert.integrations.litestar import ErrAlertPlugin
from erralert.integrations.starlette import ErrAlertMiddleware

SLACK = "https://hooks.slack.com/services/T0/B0/XXXX"
HTTP: Scope = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/orders/42",
    "raw_path": b"/orders/42",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"shop.test")],
    "server": ("shop.test", 80),
    "client": ("203.0.113.9", 50000),
}


class HangingWebhook:
    """A webhook that takes every request and answers only once ``release()`` is called
    (by a task on the event loop)."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.reached = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.reached.set()
        self._released.wait(30)
        self.events.append("delivered")
        return httpx.Response(200)


async def failing_app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    raise KeyError("order-42")


def asgi_middleware(alerter: erralert.Alerter) -> ASGIApp:
    return erralert.ASGIMiddleware(failing_app, alerter=alerter)


def starlette_middleware(alerter: erralert.Alerter) -> ASGIApp:
    return ErrAlertMiddleware(failing_app, alerter=alerter, capture_http_5xx=True)


@get("/orders/42")
async def order() -> str:
    raise KeyError("order-42")


def litestar_plugin(alerter: erralert.Alerter) -> ASGIApp:
    return Litestar(route_handlers=[order], plugins=[ErrAlertPlugin(alerter)])


async def serve_one_failure_then_shut_down(app: ASGIApp, webhook: HangingWebhook) -> None:
    """What a server does: start the lifespan, serve a request that fails, then end the
    lifespan while another task of the loop goes on with its work."""
    events = webhook.events
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    shutdown_sent = asyncio.Event()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            events.append("shutdown complete")

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    )
    await inbox.put({"type": "lifespan.startup"})

    async def http_receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def ignore(message: Message) -> None:
        pass

    with contextlib.suppress(KeyError):
        await app(dict(HTTP), http_receive, ignore)
    assert await asyncio.to_thread(webhook.reached.wait, 10), "the alert was never sent"

    async def other_work() -> None:
        # another task of the app's loop (a request finishing, a background job)
        await shutdown_sent.wait()
        for _ in range(3):
            await asyncio.sleep(0)
        events.append("other task ran")
        webhook.release()

    worker = asyncio.create_task(other_work())
    await inbox.put({"type": "lifespan.shutdown"})
    shutdown_sent.set()
    await asyncio.wait_for(lifespan, 30)
    await worker


@pytest.mark.parametrize(
    "wrap",
    [asgi_middleware, starlette_middleware, litestar_plugin],
    ids=["ASGIMiddleware", "starlette.ErrAlertMiddleware", "litestar.ErrAlertPlugin"],
)
def test_the_loop_serves_other_tasks_during_the_final_flush(
    wrap: Callable[[erralert.Alerter], ASGIApp],
) -> None:
    events: list[str] = []
    webhook = HangingWebhook(events)
    # a flush on the loop would wait all of shutdown_timeout, then let the task run
    alerter = erralert.Alerter([SLACK], transport=httpx.MockTransport(webhook), shutdown_timeout=10)
    try:
        asyncio.run(serve_one_failure_then_shut_down(wrap(alerter), webhook))
    finally:
        webhook.release()
        alerter.close(0.1)
    # the flush waited for the alert, which the other task let through meanwhile
    assert events == ["other task ran", "delivered", "shutdown complete"]


def test_the_final_flush_waits_at_most_shutdown_timeout() -> None:
    """A webhook that never answers: the lifespan ends after shutdown_timeout, with the
    loop free all along (a ticking task counts the turns it got)."""
    events: list[str] = []
    webhook = HangingWebhook(events)
    alerter = erralert.Alerter(
        [SLACK], transport=httpx.MockTransport(webhook), shutdown_timeout=0.5
    )

    async def main() -> tuple[float, int]:
        app = erralert.ASGIMiddleware(failing_app, alerter=alerter)
        with contextlib.suppress(KeyError):
            await app(dict(HTTP), _never, _ignore)
        assert await asyncio.to_thread(webhook.reached.wait, 10)
        turns = 0
        done = False

        async def ticking() -> None:
            nonlocal turns
            while not done:
                turns += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(ticking())
        loop = asyncio.get_running_loop()
        started = loop.time()
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> Message:
            return next(messages)

        await app({"type": "lifespan"}, receive, _ignore)
        took = loop.time() - started
        done = True
        await ticker
        return took, turns

    try:
        took, turns = asyncio.run(main())
    finally:
        webhook.release()
        alerter.close(0.1)
    assert 0.5 <= took < 1.5
    assert turns >= 10  # a blocked loop gives it one turn: the first


def test_under_trio_the_final_flush_waits_off_the_loop_too() -> None:
    """Starlette and hypercorn run on trio too, which has no asyncio loop to wake: there the
    final flush's thread is polled, the loop serving other tasks meanwhile (Starlette's own
    suite runs every lifespan test on trio: ``python -m benchmarks.peers`` found this)."""
    import trio  # selenium's dependency, in the dev extra

    events: list[str] = []
    webhook = HangingWebhook(events)
    # a flush that blocked the loop would wait all of shutdown_timeout, then let the task run
    alerter = erralert.Alerter([SLACK], transport=httpx.MockTransport(webhook), shutdown_timeout=10)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            events.append("shutdown complete")

    async def other_work() -> None:
        for _ in range(3):
            await trio.sleep(0)
        events.append("other task ran")
        webhook.release()

    async def main() -> None:
        app = erralert.ASGIMiddleware(failing_app, alerter=alerter)
        with contextlib.suppress(KeyError):
            await app(dict(HTTP), _never, _ignore)
        assert await trio.to_thread.run_sync(webhook.reached.wait, 10)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(app, {"type": "lifespan"}, receive, send)
            nursery.start_soon(other_work)

    try:
        trio.run(main)
    finally:
        webhook.release()
        alerter.close(0.1)
    assert events == ["other task ran", "delivered", "shutdown complete"]


def test_under_trio_the_final_flush_waits_at_most_shutdown_timeout() -> None:
    import trio

    webhook = HangingWebhook([])  # never answers
    alerter = erralert.Alerter(
        [SLACK], transport=httpx.MockTransport(webhook), shutdown_timeout=0.5
    )
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Message:
        return next(messages)

    async def main() -> float:
        app = erralert.ASGIMiddleware(failing_app, alerter=alerter)
        with contextlib.suppress(KeyError):
            await app(dict(HTTP), _never, _ignore)
        assert await trio.to_thread.run_sync(webhook.reached.wait, 10)
        started = trio.current_time()
        await app({"type": "lifespan"}, receive, _ignore)
        return trio.current_time() - started

    try:
        took = trio.run(main)
    finally:
        webhook.release()
        alerter.close(0.1)
    assert 0.5 <= took < 1.5


async def _never() -> Message:
    raise AssertionError("not read")


async def _ignore(message: Message) -> None:
    pass


# -- a shutdown waits once -------------------------------------------------------------------------
def capture_one(alerter: erralert.Alerter, message: str) -> None:
    try:
        raise KeyError(message)
    except KeyError:
        assert alerter.capture_exception() is not None


def test_close_after_a_final_flush_that_gave_up_does_not_wait_again() -> None:
    """The end of the lifespan waited shutdown_timeout; the atexit hook's close that
    follows must not wait as long again for the same undeliverable alert."""
    webhook = HangingWebhook([])
    alerter = erralert.Alerter([SLACK], transport=httpx.MockTransport(webhook), shutdown_timeout=30)
    try:
        capture_one(alerter, "order-42")
        assert webhook.reached.wait(10)
        assert alerter.flush(0.2, final=True) is False
        started = time.monotonic()
        assert alerter.close() is False
        assert time.monotonic() - started < 5  # not the 30 s of shutdown_timeout
    finally:
        webhook.release()


def test_an_alert_captured_after_the_final_flush_gets_a_wait_of_its_own() -> None:
    webhook = HangingWebhook([])
    alerter = erralert.Alerter([SLACK], transport=httpx.MockTransport(webhook), shutdown_timeout=30)
    try:
        capture_one(alerter, "order-42")
        assert webhook.reached.wait(10)
        assert alerter.flush(0.2, final=True) is False
        webhook.release()  # the platform is back
        capture_one(alerter, "order-43")  # a new error after the lifespan's end
        assert alerter.close() is True  # waited until both were delivered
        assert webhook.events == ["delivered", "delivered"]
    finally:
        webhook.release()


def test_without_a_new_thread_the_final_flush_runs_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No thread can be started (a thread limit): blocking the loop beats losing the
    digest of the repeats with the process."""
    sent: list[str] = []

    def webhook(request: httpx.Request) -> httpx.Response:
        sent.append("delivered")
        return httpx.Response(200)

    alerter = erralert.Alerter([SLACK], transport=httpx.MockTransport(webhook), shutdown_timeout=10)

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    async def main() -> None:
        app = erralert.ASGIMiddleware(failing_app, alerter=alerter)
        for _ in range(3):
            with contextlib.suppress(KeyError):
                await app(dict(HTTP), _never, _ignore)
        assert await asyncio.to_thread(alerter.flush, 10)  # the alert; the worker runs
        monkeypatch.setattr(threading.Thread, "start", no_thread)
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> Message:
            return next(messages)

        async def send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                sent.append("shutdown complete")

        try:
            await app({"type": "lifespan"}, receive, send)
        finally:
            monkeypatch.undo()  # asyncio.run starts a thread as it ends

    try:
        asyncio.run(main())
    finally:
        alerter.close(0.1)
    assert sent == ["delivered", "delivered", "shutdown complete"]  # alert, then digest
