"""The durable outbox: written before the first attempt, deleted once accepted, adopted
and sent by the next process when its writer died — even killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import erralert
from erralert._core.event import Event
from erralert._core.notice import Notice, Occurrences
from erralert._delivery.spool import Spool
from tests.receiver import Answer, Received, Receiver
from tests.samples import event

ROOT = Path(__file__).resolve().parents[2]


def _notice(message: str = "boom", created: float = 1_700_000_000.0) -> Notice:
    ev: Event = event(message)
    occ = Occurrences(
        count=1, total=1, first_seen=created, last_seen=created, window=300.0, is_new=True
    )
    return Notice("alert", ev, occ, created_at=created, mentions=True)


def test_rows_round_trip_and_are_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    ids = spool.add([("lane-a", _notice()), ("lane-b", _notice())])
    assert len(ids) == 2
    assert len(spool) == 2
    spool.remove(ids[:1])
    assert len(spool) == 1
    assert spool.adopt(["lane-a", "lane-b"]) == []  # ours, and we are alive


def _write_and_die(path: str) -> None:
    Spool(path).add([("lane", _notice(f"orphan {i}", 1_700_000_000.0 + i)) for i in range(5)])
    os._exit(0)  # no clean-up: as if killed


def test_orphans_of_a_dead_process_are_adopted_once_oldest_first(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _write_and_die(path)
    os.waitpid(pid, 0)
    spool = Spool(path)
    assert spool.adopt(["other-lane"]) == []  # only channels this process has
    adopted = spool.adopt(["lane"])
    assert [a.notice.event.title for a in adopted] == [
        f"PaymentError: orphan {i}" for i in range(5)
    ]
    assert all(a.notice.replayed for a in adopted)
    assert adopted[0].notice.mentions  # what the original said
    assert adopted[0].notice.created_at == 1_700_000_000.0  # its original time
    assert Spool(path).adopt(["lane"]) == []  # adopted once: now this live process's


def test_too_many_orphans_fold_the_oldest_into_one_summary(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        Spool(path).add([("lane", _notice(f"many {i}")) for i in range(30)])
        os._exit(0)
    os.waitpid(pid, 0)
    spool = Spool(path)
    adopted = spool.adopt(["lane"], keep=10)
    assert len(adopted) == 10
    summary = adopted[0].notice
    assert summary.kind == "storm"
    assert summary.storm is not None
    assert summary.storm.total == 21  # the oldest 21, none dropped
    assert [a.notice.event.title for a in adopted[1:]] == [
        f"PaymentError: many {i}" for i in range(21, 30)
    ]
    assert len(spool) == 10


def test_delivered_messages_leave_the_spool(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "spool.db"
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"], spool=path)
    try:
        raise ValueError("kept until accepted")
    except ValueError as exc:
        alerter.capture_exception(exc)
    assert alerter.flush(5)
    assert len(receiver.requests) == 1
    assert len(Spool(path)) == 0
    alerter.close(1)


APP = textwrap.dedent(
    r"""
    import sys, time
    import erralert

    alerter = erralert.Alerter([sys.argv[1]], spool=sys.argv[2])

    # five distinct errors (five functions: five fingerprints)
    code = "\n".join(f"def f{i}():\n    raise ValueError('before the kill {i}')" for i in range(5))
    namespace = {}
    exec(compile(code, "killed_app.py", "exec"), namespace)
    for i in range(5):
        try:
            namespace[f"f{i}"]()
        except ValueError as exc:
            alerter.capture_exception(exc)
    print("captured", flush=True)
    time.sleep(60)
    """
)

RESTART = textwrap.dedent(
    """
    import sys
    import erralert

    alerter = erralert.Alerter([sys.argv[1]], spool=sys.argv[2])
    print("flushed" if alerter.flush(30) else "timed out", flush=True)
    alerter.close(1)
    """
)


@pytest.mark.e2e
def test_sigkill_while_chat_is_down_then_restart_delivers_everything_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    down = threading.Event()
    down.set()
    accepted: list[Received] = []

    def answer(got: Received) -> Answer | None:
        if down.is_set():
            return Answer(503)
        accepted.append(got)
        return None

    receiver.answer_for = answer
    url = f"webhook+{receiver.base}/hook"
    spool = str(tmp_path / "spool.db")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    app = subprocess.Popen(
        [sys.executable, "-c", APP, url, spool], stdout=subprocess.PIPE, text=True, env=env
    )
    assert app.stdout is not None
    assert app.stdout.readline().strip() == "captured"
    deadline = time.monotonic() + 10
    while len(receiver.requests) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # the first attempts hit a chat that is down
    assert receiver.requests, "the app never tried to deliver"
    app.send_signal(signal.SIGKILL)
    app.wait(10)
    assert len(Spool(spool)) == 5  # nothing was delivered; everything is on disk
    down.clear()  # chat is back
    restart = subprocess.run(
        [sys.executable, "-c", RESTART, url, spool],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert restart.stdout.strip() == "flushed", restart.stderr
    texts = [g.text for g in accepted]
    for i in range(5):
        assert sum(f"before the kill {i}" in t for t in texts) == 1
    assert len(accepted) == 5
    assert len(Spool(spool)) == 0
    # marked late, with the original time
    assert all(g.json["title"].startswith("⏳ late: 🔴 ValueError") for g in accepted)
    assert all(g.json["event"]["timestamp"] < time.time() - 0.5 for g in accepted)


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_spool_needs_a_file(path: str) -> None:
    with pytest.raises(erralert.ConfigError, match="spool"):
        Spool(path)


def test_a_live_process_keeps_its_rows(tmp_path: Path) -> None:
    """Several processes share one spool file: only the rows of one that is gone move."""
    path = str(tmp_path / "spool.db")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: writes, says so, then waits to be killed
        Spool(path).add([("lane", _notice("still mine"))])
        os.write(write, b"x")
        time.sleep(60)
        os._exit(0)
    try:
        assert os.read(read, 1) == b"x"
        spool = Spool(path)
        assert spool.adopt(["lane"]) == []  # its writer is alive
        assert len(spool) == 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    (adopted,) = spool.adopt(["lane"])
    assert adopted.notice.event.title == "PaymentError: still mine"
