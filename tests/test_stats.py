"""``Alerter.stats()``: what delivery did, per channel and in total, counted exactly — a
retry, a refusal, a storm's folded messages, a loss — and read safely from any thread.

The platform is a real local receiver where its answer is all that matters, and
``httpx.MockTransport`` in virtual time where the test would otherwise wait (a backoff,
a rolling minute, the ten minutes before a message is given up)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import erralert
from erralert import ChannelStats, Stats
from erralert._delivery.worker import Worker
from erralert._render.renderer import Renderer
from erralert.channels.base import Channel, Message
from tests.receiver import Answer, Receiver
from tests.virtual_clock import VirtualClock, virtual_loops

DINGTALK = "dingtalk+http://dingtalk.test/robot/send?access_token=t0k3n"


def raise_distinct(alerter: erralert.Alerter, count: int, label: str = "e") -> None:
    """``count`` distinct errors (each from its own function), captured in order."""
    code = "\n".join(
        f"def {label}{i}():\n    raise ValueError('{label} {i:03d}')" for i in range(count)
    )
    namespace: dict[str, Any] = {}
    exec(compile(code, f"{label}_source.py", "exec"), namespace)
    for i in range(count):
        try:
            namespace[f"{label}{i}"]()
        except ValueError as exc:
            alerter.capture_exception(exc)


def answering(*statuses: int) -> Callable[[httpx.Request], httpx.Response]:
    """A platform answering ``statuses`` in turn, then 200 (with DingTalk's ``errcode`` 0:
    the other platforms take any 200); its requests kept in its ``requests``."""
    queue = list(statuses)
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        status = queue.pop(0) if queue else 200
        if status != 200:
            return httpx.Response(status, text="no")
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})  # DingTalk's ok too

    answer.requests = requests  # type: ignore[attr-defined]
    return answer


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    with virtual_loops() as made:
        yield made


def only(stats: Stats) -> ChannelStats:
    (channel,) = stats.channels.values()
    return channel


# -- each outcome, counted exactly ---------------------------------------------------------------
@pytest.mark.slow  # the backoff after the 429: about a second of real time
def test_a_429_then_200_is_one_retry_and_one_sent(receiver: Receiver) -> None:
    receiver.answers = [Answer(429, "rate_limited", headers={"Retry-After": "0"})]
    alerter = erralert.Alerter([f"slack+{receiver.base}/services/T/B/X"])
    try:
        raise_distinct(alerter, 1)
        assert alerter.flush(15)
        assert len(receiver.requests) == 2
        channel = only(alerter.stats())
        assert channel == ChannelStats("slack", sent=1, retried=1)
        assert alerter.stats().alerts == 1
    finally:
        alerter.close(1)


def test_a_refused_400_is_one_refusal_and_no_retry(receiver: Receiver) -> None:
    receiver.default = Answer(400, "invalid_payload")
    alerter = erralert.Alerter([f"slack+{receiver.base}/services/T/B/X"])
    try:
        raise_distinct(alerter, 1)
        assert alerter.flush(10)
        stats = alerter.stats()
        assert only(stats) == ChannelStats("slack", refused=1)
        assert (stats.sent, stats.refused, stats.retried) == (0, 1, 0)
        assert alerter.outbox.failed == 1  # the outbox's own count is the same counter
    finally:
        alerter.close(1)


@pytest.mark.slow  # a whole outbox run in virtual time: a second or more of CPU
def test_retries_in_virtual_time_count_each_failed_attempt(clock: VirtualClock) -> None:
    platform = answering(503, 502, 429)
    alerter = erralert.Alerter(
        ["webhook+http://chat.test/hook"], transport=httpx.MockTransport(platform)
    )
    try:
        raise_distinct(alerter, 1)
        clock.skip()
        assert alerter.flush(30)
        assert len(platform.requests) == 4  # type: ignore[attr-defined]
        assert only(alerter.stats()) == ChannelStats("webhook", sent=1, retried=3)
    finally:
        alerter.close(1)


@pytest.mark.slow  # a whole outbox run in virtual time: a second or more of CPU
def test_a_storm_counts_what_it_folded(clock: VirtualClock) -> None:
    """DingTalk, 20 in any minute: 25 new errors at once are 19 alerts and one summary of
    the other 6 (no follow-ups here)."""
    platform = answering()
    alerter = erralert.Alerter(
        [DINGTALK], storm_followups=0, transport=httpx.MockTransport(platform)
    )
    try:
        raise_distinct(alerter, 25)
        clock.skip()
        assert alerter.flush(300)
        assert len(platform.requests) == 20  # type: ignore[attr-defined]
        stats = alerter.stats()
        assert only(stats) == ChannelStats("dingtalk", sent=20, folded=6)
        assert (stats.alerts, stats.digests) == (25, 0)
    finally:
        alerter.close(1)


def test_a_full_inbox_counts_its_folds_at_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker cannot keep up (here: it never starts): past max_queue, captures fold
    into the storm summary at once, and say so before anything is sent."""
    monkeypatch.setattr(Worker, "ensure", lambda self: None)
    alerter = erralert.Alerter(
        ["webhook+http://chat.test/hook"],
        max_queue=5,
        transport=httpx.MockTransport(answering()),
    )
    raise_distinct(alerter, 40)
    channel = only(alerter.stats())
    assert channel == ChannelStats("webhook", folded=35, outstanding=40)
    assert alerter.stats().alerts == 40
    alerter.close(0)


@pytest.mark.slow  # a whole outbox run in virtual time: a second or more of CPU
def test_given_up_after_max_age_is_lost_and_each_failed_attempt_a_retry(
    clock: VirtualClock,
) -> None:
    platform = answering(*[503] * 1000)
    alerter = erralert.Alerter(
        ["webhook+http://chat.test/hook"], transport=httpx.MockTransport(platform)
    )
    try:
        raise_distinct(alerter, 1)
        clock.skip()  # through the 10 minutes a message is retried without a spool
        assert alerter.flush(60)
        attempts = len(platform.requests)  # type: ignore[attr-defined]
        assert attempts > 10  # probed with backoff up to 30 s apart, for 10 minutes
        # every failed attempt was to be tried again; when its turn came after the last
        # one, the message was too old and given up, without another attempt
        assert only(alerter.stats()) == ChannelStats("webhook", retried=attempts, lost=1)
        assert alerter.outbox.lost == 1
    finally:
        alerter.close(1)


def test_a_channel_that_cannot_render_loses_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Renderer, notice: object, channel: Channel) -> Message:
        raise RuntimeError("a bug in a channel")

    monkeypatch.setattr(Renderer, "render", broken)
    platform = answering()
    alerter = erralert.Alerter(
        ["webhook+http://chat.test/hook"], transport=httpx.MockTransport(platform)
    )
    try:
        raise_distinct(alerter, 1)
        assert alerter.flush(10)
        assert platform.requests == []  # type: ignore[attr-defined]
        assert only(alerter.stats()) == ChannelStats("webhook", lost=1)
    finally:
        alerter.close(1)


@pytest.mark.slow  # a whole outbox run in virtual time: a second or more of CPU
def test_digests_are_counted_apart_from_alerts(clock: VirtualClock) -> None:
    platform = answering()
    alerter = erralert.Alerter(
        ["webhook+http://chat.test/hook"], window=1, transport=httpx.MockTransport(platform)
    )
    try:
        for _ in range(3):  # one call site: an alert, then two repeats for the digest
            raise_distinct(alerter, 1)
        clock.advance(2)  # the window ends
        assert alerter.flush(10)
        stats = alerter.stats()
        assert (stats.alerts, stats.digests, stats.sent) == (1, 1, 2)
    finally:
        alerter.close(1)


# -- per channel, named as logs name them --------------------------------------------------------
def test_channels_are_keyed_by_their_masked_name_and_kept_apart() -> None:
    alerter = erralert.Alerter(
        [
            "slack://T0AB1CD2E/B0FG3HI4J/abcDEF123ghi",
            "dingtalk://t0k3n?secret=SECs1gn",
            "webhook+http://chat.test/hook?name=ops",
            "webhook+http://chat.test/other?name=ops",
        ],
        transport=httpx.MockTransport(answering(400)),
    )
    try:
        raise_distinct(alerter, 1)
        assert alerter.flush(10)
        stats = alerter.stats()
        assert list(stats.channels) == [
            "slack:https://hooks.slack.com/services/***/***/***",
            "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=***",
            "ops",
            "ops #2",  # two channels named alike are still two
        ]
        assert [c.platform for c in stats.channels.values()] == [
            "slack",
            "dingtalk",
            "webhook",
            "webhook",
        ]
        # the first request (whichever lane sent it) was refused, the other three accepted
        assert (stats.sent, stats.refused) == (3, 1)
        text = repr(stats) + erralert.prometheus_text(stats)
        for secret in ("abcDEF123ghi", "t0k3n", "SECs1gn"):
            assert secret not in text
    finally:
        alerter.close(1)


def test_stats_are_a_snapshot_that_cannot_be_changed() -> None:
    alerter = erralert.Alerter(["webhook+http://chat.test/hook"])
    stats = alerter.stats()
    alerter.close(0)
    with pytest.raises(TypeError):
        stats.channels["x"] = ChannelStats("slack")  # type: ignore[index]
    with pytest.raises(AttributeError):
        stats.alerts = 3  # type: ignore[misc]
    assert stats == Stats({"webhook:http://chat.test/hook": ChannelStats("webhook")})


# -- threads and processes -----------------------------------------------------------------------
def test_captures_from_many_threads_are_all_counted() -> None:
    platform = answering()
    alerter = erralert.Alerter(
        ["webhook+http://chat.test/hook"], transport=httpx.MockTransport(platform)
    )
    threads = [
        threading.Thread(target=raise_distinct, args=(alerter, 25, f"t{n}_")) for n in range(8)
    ]
    readings: list[Stats] = []
    try:
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            readings.append(alerter.stats())  # read while they count
        for thread in threads:
            thread.join()
        assert alerter.flush(30)
        assert only(alerter.stats()) == ChannelStats("webhook", sent=200)
        assert alerter.stats().alerts == 200
        sent = [r.sent for r in readings]
        assert sent == sorted(sent)  # monotonic
    finally:
        alerter.close(1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_counts_from_zero(receiver: Receiver) -> None:
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"])
    raise_distinct(alerter, 1, "parent")
    assert alerter.flush(5)
    pid = os.fork()
    if pid == 0:  # the child: what the parent sent is the parent's
        ok = False
        try:
            before = alerter.stats()
            raise_distinct(alerter, 1, "child")
            ok = alerter.flush(5) and (before.sent, alerter.stats().sent) == (0, 1)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert alerter.stats().sent == 1
    alerter.close(1)
