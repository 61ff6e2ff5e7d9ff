"""flush_on_stop_signals: deliver what is queued before the server's own handler gets the
signal, off the event loop; the server's handler is chained, never replaced.

The tests stand a recording handler in for the server's, on SIGUSR1 (the test run's own
SIGTERM and SIGINT stay untouched), and hold the webhook's answer on an event, so that what
happens during the flush is observed, not timed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import httpx
import pytest

import erralert
from erralert.integrations.stop_signals import flush_on_stop_signals

SIGNAL = signal.SIGUSR1


class Webhook:
    """A webhook whose answers wait until ``release`` is set (or ``hold`` seconds pass)."""

    def __init__(self, hold: float = 10.0) -> None:
        self.posted: list[str] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.hold = hold

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.posted.append(json.loads(request.content)["kind"])
        self.arrived.set()
        if not self.release.wait(self.hold):
            return httpx.Response(503)
        return httpx.Response(200)


class Server:
    """Stands in for the server's signal handler."""

    def __init__(self) -> None:
        self.got: list[int] = []
        self.frames: list[FrameType | None] = []
        self.webhook_posted_before: list[list[str]] = []
        self.webhook: Webhook | None = None
        self.handed = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.got.append(signum)
        self.frames.append(frame)
        if self.webhook is not None:
            self.webhook_posted_before.append(list(self.webhook.posted))
        self.handed.set()


@pytest.fixture(autouse=True)
def _restore_handler() -> Iterator[None]:
    before = signal.getsignal(SIGNAL)
    yield
    signal.signal(SIGNAL, before)


def alerter_for(webhook: Webhook, shutdown_timeout: float = 5.0) -> erralert.Alerter:
    return erralert.Alerter(
        ["webhook+http://hooks.invalid/x"],
        transport=httpx.MockTransport(webhook),
        shutdown_timeout=shutdown_timeout,
    )


def fail(alerter: erralert.Alerter, text: str = "card declined") -> None:
    try:
        raise ValueError(text)
    except ValueError as exc:
        alerter.capture_exception(exc)


def test_flushes_off_the_loop_then_hands_the_signal_to_the_server() -> None:
    webhook = Webhook()
    alerter = alerter_for(webhook)
    server = Server()
    server.webhook = webhook
    signal.signal(SIGNAL, server)
    progressed: list[str] = []

    async def main() -> None:
        assert flush_on_stop_signals(alerter, [SIGNAL]) == [SIGNAL]
        fail(alerter)
        fail(alerter)  # a repeat: counted in the open window, sent early by the flush
        signal.raise_signal(SIGNAL)
        # the flush waits on the webhook, the webhook on this task: the loop keeps serving
        assert await asyncio.to_thread(webhook.arrived.wait, 10)
        assert server.got == []  # the server is told once what was queued is delivered
        progressed.append("loop served during the flush")
        webhook.release.set()
        assert await asyncio.to_thread(server.handed.wait, 10)

    try:
        asyncio.run(main())
        assert progressed == ["loop served during the flush"]
        assert server.got == [SIGNAL]  # handed over once, as the server would have got it
        assert server.frames[0] is not None
        assert server.webhook_posted_before == [["alert", "digest"]]
    finally:
        alerter.close(0.1)


def test_what_misses_the_deadline_is_named_and_the_server_still_gets_the_signal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    webhook = Webhook(hold=5.0)
    alerter = alerter_for(webhook, shutdown_timeout=0.3)
    server = Server()
    signal.signal(SIGNAL, server)

    async def main() -> None:
        flush_on_stop_signals(alerter, [SIGNAL])
        fail(alerter)
        signal.raise_signal(SIGNAL)
        assert await asyncio.to_thread(server.handed.wait, 10)

    try:
        with caplog.at_level(logging.WARNING, logger="erralert"):
            asyncio.run(main())
        assert server.got == [SIGNAL]
        assert (
            "erralert: SIGUSR1: messages still undelivered after 0.3 s; the server stops now, "
            "and they are lost if it ends the process without running exit hooks"
        ) in caplog.messages
    finally:
        webhook.release.set()
        alerter.close(0.1)


def test_a_second_signal_during_the_flush_is_handed_over_at_once() -> None:
    webhook = Webhook()
    alerter = alerter_for(webhook)
    server = Server()
    signal.signal(SIGNAL, server)

    async def main() -> None:
        flush_on_stop_signals(alerter, [SIGNAL])
        fail(alerter)
        signal.raise_signal(SIGNAL)
        assert await asyncio.to_thread(webhook.arrived.wait, 10)
        assert server.got == []
        signal.raise_signal(SIGNAL)  # the operator insists
        assert server.got == [SIGNAL, SIGNAL]  # both, in order, without waiting
        webhook.release.set()
        await asyncio.to_thread(alerter.flush, 5)
        for _ in range(10):
            await asyncio.sleep(0)  # the flush thread's hand-over finds nothing left

    try:
        asyncio.run(main())
        assert server.got == [SIGNAL, SIGNAL]
    finally:
        alerter.close(0.1)


def test_without_a_running_loop_it_flushes_then_hands_over() -> None:
    webhook = Webhook()
    webhook.release.set()
    alerter = alerter_for(webhook)
    server = Server()
    server.webhook = webhook
    signal.signal(SIGNAL, server)
    try:
        flush_on_stop_signals(alerter, [SIGNAL])
        fail(alerter)
        signal.raise_signal(SIGNAL)
        assert server.got == [SIGNAL]
        assert server.webhook_posted_before == [["alert"]]
    finally:
        alerter.close(0.1)


def test_the_default_alerter_is_the_one_at_the_time_of_the_signal() -> None:
    webhook = Webhook()
    webhook.release.set()
    server = Server()
    server.webhook = webhook
    signal.signal(SIGNAL, server)
    flush_on_stop_signals(signals=[SIGNAL])  # before any default alerter exists
    alerter = erralert.init(
        webhooks=["webhook+http://hooks.invalid/x"], transport=httpx.MockTransport(webhook)
    )
    fail(alerter)
    signal.raise_signal(SIGNAL)
    assert server.webhook_posted_before == [["alert"]]


@pytest.mark.parametrize(
    "handler",
    [signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler],
    ids=["default-action", "ignored", "KeyboardInterrupt"],
)
def test_only_a_servers_handler_is_chained(handler: signal.Handlers) -> None:
    """With the default action there is no server to hand over to; Python's SIGINT handler
    raises KeyboardInterrupt, which runs the exit hooks (they flush) already."""
    signal.signal(SIGNAL, handler)
    assert flush_on_stop_signals(signals=[SIGNAL]) == []
    assert signal.getsignal(SIGNAL) is handler


def test_chained_once_however_often_asked() -> None:
    server = Server()
    signal.signal(SIGNAL, server)
    assert flush_on_stop_signals(signals=[SIGNAL]) == [SIGNAL]
    relay = signal.getsignal(SIGNAL)
    assert flush_on_stop_signals(signals=[SIGNAL]) == []
    assert signal.getsignal(SIGNAL) is relay
    signal.raise_signal(SIGNAL)  # no loop, nothing queued: handed over at once
    assert server.got == [SIGNAL]


def test_off_the_main_thread_nothing_is_chained() -> None:
    server = Server()
    signal.signal(SIGNAL, server)
    result: list[list[int]] = []
    thread = threading.Thread(target=lambda: result.append(flush_on_stop_signals(None, [SIGNAL])))
    thread.start()
    thread.join(10)
    assert result == [[]]
    assert signal.getsignal(SIGNAL) is server
