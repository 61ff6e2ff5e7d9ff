"""Chat down during a storm, then back: everything arrives, once, soon after recovery; a
failing channel is paused (circuit breaker) instead of hammered; given up only after
max_age, and then counted and logged.

In virtual time: the outbox runs on an injected clock whose loops skip their idle waits,
against a platform (``httpx.MockTransport``) that answers by that clock — a 30 s outage,
and the 10 minutes before a message is given up, pass in moments."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

import erralert
from erralert._core.notice import Notice
from erralert._delivery.outbox import Outbox
from erralert._render.renderer import Renderer
from tests.virtual_clock import FakeClock

pytestmark = pytest.mark.slow

OUTAGE = 30.0
ERRORS = 20
HOOK = "webhook+http://chat.test/hook"
SLACK = "slack+http://chat.test/services/T/B/X"


@functools.cache
def _renderer() -> Renderer:
    return Renderer()  # compiling the templates takes longer than a test's outage


class Notices(list[Notice]):
    """A sink that keeps an alerter's notices, for the test to hand to its outbox."""

    def submit(self, notice: Notice) -> None:
        self.append(notice)


def _raise_distinct(count: int, label: str, *webhooks: str) -> tuple[erralert.Alerter, Notices]:
    """``count`` distinct errors captured by an alerter: its notices (one alert each)."""
    alerter = erralert.Alerter(list(webhooks))
    notices = Notices()
    code = "\n".join(
        f"def {label}{i}():\n    raise ValueError('{label} error {i:02d}')" for i in range(count)
    )
    namespace: dict[str, object] = {}
    exec(compile(code, f"{label}_app.py", "exec"), namespace)
    with erralert.Alerter.recording(lambda _: notices, only=alerter):
        for i in range(count):
            try:
                namespace[f"{label}{i}"]()  # type: ignore[operator]
            except ValueError as exc:
                alerter.capture_exception(exc)
    alerter.close(0.1)
    return alerter, notices


@contextmanager
def delivering(
    label: str,
    count: int,
    webhooks: tuple[str, ...],
    clock: FakeClock,
    answer: Callable[[httpx.Request], httpx.Response],
) -> Iterator[Outbox]:
    """An outbox on ``clock`` for the alerter's channels, given the notices of ``count``
    distinct errors at once, as a storm gives them. The platform ``answer``s once the storm
    is queued: the network's latency gives the worker that time, and a mock has none."""
    alerter, notices = _raise_distinct(count, label, *webhooks)
    queued = threading.Event()

    async def platform(request: httpx.Request) -> httpx.Response:
        while not queued.is_set():
            await asyncio.sleep(0.001)
        return answer(request)

    outbox = Outbox(
        alerter.channels, _renderer().render, transport=httpx.MockTransport(platform), clock=clock
    )
    try:
        for notice in notices:
            outbox.submit(notice)
        while outbox.backlog().queued:  # until the worker has taken them into its lanes
            time.sleep(0.001)
        queued.set()
        yield outbox
    finally:
        outbox.close(0.1)


def test_chat_down_30_s_during_a_storm_then_everything_arrives_once() -> None:
    clock = FakeClock()
    recovered = clock.now() + OUTAGE
    accepted: list[tuple[float, httpx.Request]] = []
    refused: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        now = clock.now()
        if now < recovered:
            refused.append(request)
            return httpx.Response(503, text="service unavailable")
        accepted.append((now, request))
        return httpx.Response(200, text="ok")

    with delivering("outage", ERRORS, (HOOK, SLACK), clock, answer) as outbox:
        clock.skip()
        assert outbox.flush(OUTAGE + 60), "not everything was delivered"
    for path in ("/hook", "/services/T/B/X"):
        got = [r for _, r in accepted if r.url.path == path]
        texts = [r.content.decode() for r in got]
        for i in range(ERRORS):
            found = sum(f"outage error {i:02d}" in t for t in texts)
            assert found == 1, f"{path}: error {i} arrived {found} times"
        assert len(got) == ERRORS  # nothing else, nothing twice
    assert max(t for t, _ in accepted) - recovered <= 60.0
    # the breaker: the channels were probed, not hammered, while down
    assert len(refused) <= 2 * 12


def test_a_failing_channel_is_paused_and_the_other_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    clock = FakeClock()
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500 if request.url.path == "/down" else 200)

    down_hook, up_hook = "webhook+http://chat.test/down", "webhook+http://chat.test/up"
    with delivering("pause", 5, (down_hook, up_hook), clock, answer) as outbox:
        clock.run_for(4.0)
        assert not outbox.flush(0)
        down = [r for r in list(requests) if r.url.path == "/down"]
        up = [r for r in list(requests) if r.url.path == "/up"]
    assert len(up) == 5  # the healthy channel did not wait
    # 4 s of a dead endpoint: a probe per pause (about 1, 2, 4 s), not every message retried
    assert 2 <= len(down) <= 4
    pauses = [r.getMessage() for r in caplog.records if "pausing it" in r.getMessage()]
    assert len(pauses) == 1  # said once when the streak began, not per attempt
    assert "5 message(s) waiting" in pauses[0]


def test_given_up_after_max_age_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    clock = FakeClock()
    with delivering("lost", 3, (HOOK,), clock, lambda _: httpx.Response(503)) as outbox:
        clock.skip()  # through the 10 minutes a message is retried without a spool
        assert outbox.flush(10.0)  # nothing left: the three were given up
        assert (outbox.lost, outbox.delivered) == (3, 0)
    lost = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert len(lost) == 3
    assert "3 message(s) lost so far" in lost[-1]
