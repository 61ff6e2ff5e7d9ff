"""The delivery worker against a real local receiver: verdicts, retries, pacing, storms,
shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest

import erralert
from tests.receiver import Answer, Receiver

ROOT = Path(__file__).resolve().parent.parent


def boom(alerter: erralert.Alerter, text: str = "boom") -> None:
    try:
        raise RuntimeError(text)
    except RuntimeError as exc:
        alerter.capture_exception(exc)


@pytest.mark.slow
def test_slack_429_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.answers = [Answer(429, "rate_limited", headers={"Retry-After": "2"})]
    alerter = erralert.Alerter([f"slack+{receiver.base}/services/T/B/X"])
    boom(alerter)
    assert alerter.flush(15)
    first, second = receiver.wait_for(2)
    assert second.at - first.at >= 2.0
    assert first.body == second.body
    alerter.close(1)


def test_slack_400_is_not_retried(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.default = Answer(400, "invalid_payload")
    alerter = erralert.Alerter([f"slack+{receiver.base}/services/T/B/X"])
    with caplog.at_level(logging.ERROR, logger="erralert"):
        boom(alerter)
        assert alerter.flush(10)
    assert len(receiver.requests) == 1
    assert "invalid_payload" in caplog.text
    alerter.close(1)


def test_dingtalk_sign_mismatch_not_retried(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.default = Answer(body={"errcode": 310000, "errmsg": "sign not match"})
    alerter = erralert.Alerter([f"dingtalk+{receiver.base}/robot/send?access_token=t&secret=S"])
    with caplog.at_level(logging.ERROR, logger="erralert"):
        boom(alerter)
        assert alerter.flush(10)
    assert len(receiver.requests) == 1
    assert "sign not match" in caplog.text
    assert "access_token=t" not in caplog.text  # the token is masked in logs
    alerter.close(1)


@pytest.mark.slow
def test_dingtalk_throttled_is_retried_later(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.default = Answer(body={"errcode": 130101, "errmsg": "send too fast"})
    alerter = erralert.Alerter([f"dingtalk+{receiver.base}/robot/send?access_token=t"])
    with caplog.at_level(logging.WARNING, logger="erralert"):
        boom(alerter)
        assert alerter.flush(1.5) is False  # still queued: waiting out the throttle
    assert len(receiver.requests) == 1
    assert "pausing it 60.0 s" in caplog.text
    assert alerter.outbox.outstanding == 1
    alerter.close(0.1)


def test_dingtalk_ok(receiver: Receiver) -> None:
    receiver.default = Answer(body={"errcode": 0, "errmsg": "ok"})
    alerter = erralert.Alerter([f"dingtalk+{receiver.base}/robot/send?access_token=t"])
    boom(alerter)
    assert alerter.flush(10)
    assert alerter.outbox.delivered == 1
    assert alerter.outbox.failed == 0
    alerter.close(1)


@pytest.mark.slow
def test_storm_folds_the_surplus_into_one_summary(receiver: Receiver) -> None:
    """DingTalk allows 20 per rolling minute: 30 distinct errors at once become 19 alerts
    and one storm summary of the other 11; the platform's limit is never hit.

    max_delay is 30 s here: with the default 60 s, a message could also wait for the
    first sends to leave the rolling minute, and how many can depends on the timing. The
    follow-up alerts of the new errors folded wait for the next minute: they are tested
    in virtual time (tests/test_storm_followups.py), here there are none."""
    receiver.default = Answer(body={"errcode": 0, "errmsg": "ok"})
    alerter = erralert.Alerter(
        [f"dingtalk+{receiver.base}/robot/send?access_token=t"], max_delay=30, storm_followups=0
    )
    code = "\n".join(f"def f{i}():\n    raise ValueError('e{i}')" for i in range(30))
    namespace: dict[str, object] = {}
    exec(compile(code, "storm_app.py", "exec"), namespace)
    for i in range(30):
        try:
            namespace[f"f{i}"]()  # type: ignore[operator]
        except ValueError as exc:
            alerter.capture_exception(exc)
    assert alerter.flush(15)
    requests = receiver.wait_for(20)
    assert len(requests) == 20
    texts = [r.json["markdown"]["text"] for r in requests]
    storm = texts[-1]
    assert "11 errors of 11 kinds" in storm
    # a phone screen's worth listed, new first, the rest counted
    listed = [i for i in range(19, 30) if f"ValueError: e{i} " in storm]
    assert len(listed) == 8
    assert "… and 3 more kinds (3 errors)" in storm
    alerter.close(0.5)
    assert len(receiver.requests) == 20


@pytest.mark.slow
def test_one_channel_down_does_not_delay_another(receiver: Receiver) -> None:
    receiver.answer_for = lambda got: Answer(delay=5.0) if got.path.startswith("/slow") else None
    alerter = erralert.Alerter([f"webhook+{receiver.base}/slow", f"webhook+{receiver.base}/fast"])
    boom(alerter)
    requests = receiver.wait_for(2, timeout=3)
    fast = [r for r in requests if r.path == "/fast"]
    assert len(fast) == 1
    alerter.close(6)


@pytest.mark.e2e
def test_delivered_after_exit_without_flush(receiver: Receiver) -> None:
    script = textwrap.dedent(
        f"""
        import erralert
        erralert.init(webhooks=["webhook+{receiver.base}/hook"])
        try:
            raise ValueError("last words")
        except ValueError:
            erralert.capture_exception()
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    env["PYTHONPATH"] = str(ROOT)
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=30)
    requests = receiver.wait_for(1, timeout=5)
    assert len(requests) == 1
    assert requests[0].json["event"]["exceptions"][-1]["message"] == "last words"


def test_no_thread_at_shutdown_delivers_inline(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.12+ refuses to start threads during interpreter shutdown."""

    start = threading.Thread.start

    def refuse(self: threading.Thread) -> None:
        if self.name == "erralert-outbox":
            raise RuntimeError("can't create new thread at interpreter shutdown")
        start(self)

    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"])
    monkeypatch.setattr(threading.Thread, "start", refuse)
    boom(alerter)
    assert alerter.close(5)
    assert len(receiver.wait_for(1)) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_worker_restarts_after_fork(receiver: Receiver) -> None:
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"])
    boom(alerter, "parent")
    assert alerter.flush(5)
    pid = os.fork()
    if pid == 0:  # the child: its own worker thread must deliver
        try:
            boom(alerter, "child")  # same call site, but the child's store copy has a window
            try:
                raise LookupError("child only")
            except LookupError as exc:
                alerter.capture_exception(exc)
            ok = alerter.flush(5)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    titles = [r.json["title"] for r in receiver.wait_for(2)]
    assert len(titles) == 2
    assert "child only" in titles[1]
    alerter.close(1)


@pytest.mark.slow
def test_a_full_inbox_folds_into_the_storm_summary_at_capture(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the worker cannot keep up (here: it is not allowed to start), the inbox holds
    at most max_queue messages; the rest are folded into the storm summary right away,
    so a storm of distinct errors costs counters, not events — and nothing is lost."""
    from erralert._delivery.outbox import Backlog
    from erralert._delivery.worker import Worker

    ensure = Worker.ensure
    monkeypatch.setattr(Worker, "ensure", lambda self: None)
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"], max_queue=5)
    code = "\n".join(f"def f{i}():\n    raise ValueError('flood {i:02d}')" for i in range(40))
    namespace: dict[str, object] = {}
    exec(compile(code, "flood_app.py", "exec"), namespace)
    for i in range(40):
        try:
            namespace[f"f{i}"]()  # type: ignore[operator]
        except ValueError as exc:
            alerter.capture_exception(exc)
    assert alerter.outbox.backlog() == Backlog(queued=5, folded=(35,))
    monkeypatch.setattr(Worker, "ensure", ensure)
    assert alerter.flush(15)
    kinds = [r.json["kind"] for r in receiver.requests]
    # the 5 kept go out (4 as alerts: a queue of max_queue keeps a slot for the summary),
    # then the summary, then the full alerts of the 5 first new errors it folded
    assert kinds == ["alert"] * 4 + ["storm"] + ["alert"] * 5
    storm = receiver.requests[4].json
    assert storm["storm"]["total"] == 36
    assert all(g["is_new"] for g in storm["storm"]["groups"])
    # each was folded once (a count of 1): ties go by title
    followed = [r.json["event"]["exceptions"][-1]["message"] for r in receiver.requests[5:]]
    assert followed == [f"flood {i:02d}" for i in range(4, 9)]
    text = "\n".join(r.text for r in receiver.requests)
    assert [i for i in range(40) if f"flood {i:02d}" not in text] == []
    alerter.close(0.5)


def test_a_flush_after_close_returns_at_once_even_inside_an_event_loop(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    # an app server's lifespan flushes after the app's own close(): from its event loop,
    # with messages still undelivered (chat down); it must neither block nor try to
    # deliver inline (which cannot work inside a running loop)
    receiver.default = Answer(status=503, body=b"down")
    alerter = erralert.Alerter([f"slack+{receiver.base}/services/T/B/X"], window=60)
    alerter.capture_message("chat is down")
    assert alerter.close(timeout=0.3) is False
    receiver.wait_for(1)

    async def lifespan_shutdown() -> bool:
        return alerter.flush(5.0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.monotonic()
        assert asyncio.run(lifespan_shutdown()) is False
        assert time.monotonic() - started < 1.0
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert "cannot deliver inline" not in caplog.text


def test_inline_delivery_asked_from_a_running_loop_says_why_and_leaves_no_coroutine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alerter = erralert.Alerter(["console://"], window=60)

    async def inside() -> None:
        alerter.outbox.worker.run_inline(time.monotonic() + 0.1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(inside())
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert "erralert: cannot deliver inline from a running event loop" in caplog.text
    alerter.close(0.1)
