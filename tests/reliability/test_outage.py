"""Chat down during a storm, then back: everything arrives, once, soon after recovery; a
failing channel is paused (circuit breaker) instead of hammered; given up only after
max_age, and then counted and logged."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import erralert
from tests.receiver import Answer, Received, Receiver

pytestmark = pytest.mark.slow

OUTAGE = 30.0
ERRORS = 20


def _raise_distinct(alerter: erralert.Alerter, count: int, label: str) -> None:
    code = "\n".join(
        f"def {label}{i}():\n    raise ValueError('{label} error {i:02d}')" for i in range(count)
    )
    namespace: dict[str, object] = {}
    exec(compile(code, f"{label}_app.py", "exec"), namespace)
    for i in range(count):
        try:
            namespace[f"{label}{i}"]()  # type: ignore[operator]
        except ValueError as exc:
            alerter.capture_exception(exc)


def test_chat_down_30_s_during_a_storm_then_everything_arrives_once(receiver: Receiver) -> None:
    down = threading.Event()
    down.set()
    accepted: list[tuple[float, Received]] = []
    refused: list[Received] = []

    def answer(got: Received) -> Answer | None:
        if down.is_set():
            refused.append(got)
            return Answer(503, "service unavailable")
        accepted.append((time.monotonic(), got))
        return Answer(200, "ok")

    receiver.answer_for = answer
    alerter = erralert.Alerter(
        [f"webhook+{receiver.base}/hook", f"slack+{receiver.base}/services/T/B/X"]
    )
    _raise_distinct(alerter, ERRORS, "outage")
    threading.Timer(OUTAGE, down.clear).start()
    started = time.monotonic()
    assert alerter.flush(OUTAGE + 60), "not everything was delivered within 60 s of recovery"
    recovered = started + OUTAGE
    for path in ("/hook", "/services/T/B/X"):
        got = [g for _, g in accepted if g.path == path]
        texts = [g.text for g in got]
        for i in range(ERRORS):
            found = sum(f"outage error {i:02d}" in t for t in texts)
            assert found == 1, f"{path}: error {i} arrived {found} times"
        assert len(got) == ERRORS  # nothing else, nothing twice
    assert max(t for t, _ in accepted) - recovered <= 60.0
    # the breaker: the channels were probed, not hammered, while down
    assert len(refused) <= 2 * 12
    alerter.close(1.0)


def test_a_failing_channel_is_paused_and_the_other_is_not(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    receiver.answer_for = lambda got: Answer(500) if got.path == "/down" else None
    alerter = erralert.Alerter([f"webhook+{receiver.base}/down", f"webhook+{receiver.base}/up"])
    _raise_distinct(alerter, 5, "pause")
    assert not alerter.flush(4.0)
    down = [r for r in receiver.requests if r.path == "/down"]
    up = [r for r in receiver.requests if r.path == "/up"]
    assert len(up) == 5  # the healthy channel did not wait
    # 4 s of a dead endpoint: a probe per pause (about 1, 2, 4 s), not every message retried
    assert 2 <= len(down) <= 4
    pauses = [r.getMessage() for r in caplog.records if "pausing it" in r.getMessage()]
    assert len(pauses) == 1  # said once when the streak began, not per attempt
    assert "5 message(s) waiting" in pauses[0]
    alerter.close(0.1)


def test_given_up_after_max_age_counted_and_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    receiver.default = Answer(503)
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"])
    outbox = alerter._outbox
    outbox._max_age = 1.5  # (10 minutes without a spool; shortened here)
    _raise_distinct(alerter, 3, "lost")
    assert alerter.flush(10.0)  # nothing left: the three were given up
    assert (outbox.lost, outbox.delivered) == (3, 0)
    lost = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert len(lost) == 3
    assert "3 message(s) lost so far" in lost[-1]
    alerter.close(0.1)
