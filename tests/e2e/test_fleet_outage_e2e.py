"""Issue 19, acceptance 3: 8 processes in a storm share one robot through Redis; Redis stops
for 30 s and comes back (with its data, as a restarted Redis with persistence does). The
robot's limit (20 per 60 s, DingTalk's, written as the channel's ``?rate=``) holds
throughout — before, during (each process books under its share) and after (Redis learns
what was booked meanwhile, and each lane settles on its share for a minute) — and every
occurrence captured is reported exactly once: in an alert, a digest or a storm line."""

from __future__ import annotations

import collections
import multiprocessing
import shutil
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import fleet_outage_worker as worker
from tests.e2e.test_shared_stores_e2e import flush_after_window, stop_all, unique
from tests.receiver import Answer, Received, Receiver
from tests.servers import free_port, server_process
from tests.test_storm_pacing import max_in_any

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(420)]

CHILDREN = 8
LIMIT, PERIOD = 20, 60.0
WINDOW = 300.0  # the digests are claimed by the test process, its clock past the window
ctx = multiprocessing.get_context("spawn")


class PersistentRedis:
    """A redis-server on a fixed port that keeps its data on disk (an append-only file, each
    write synced): stopped and started again, it comes back with what it held — as a
    production Redis does after a restart."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.folder = folder
        self._running: AbstractContextManager[str] | None = None

    def start(self) -> None:
        argv = [shutil.which("redis-server") or "redis-server", "--port", str(self.port)]
        argv += ["--bind", "127.0.0.1", "--dir", str(self.folder), "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always"]
        running = server_process(argv, self.port)
        running.__enter__()
        self._running = running

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.__exit__(None, None, None)


def _reported(messages: list[Any]) -> dict[str, int]:
    """Occurrences per error title, as the messages report them. Counted per fingerprint
    (a digest whose sample Redis lost when it came back empty names only its fingerprint),
    and named by the title an alert or a storm line gave it."""
    counts: collections.Counter[str] = collections.Counter()
    titles: dict[str, str] = {}
    for body in messages:
        if body["kind"] == "storm":
            for group in body["storm"]["groups"]:
                counts[group["fingerprint"]] += group["count"]
                if not group["title"].startswith("error "):  # not a stand-in's
                    titles[group["fingerprint"]] = group["title"]
        else:
            counts[body["event"]["fingerprint"]] += body["occurrences"]["count"]
            if body["kind"] == "alert":
                titles[body["event"]["fingerprint"]] = body["event"]["title"]
    named = {fp: title.removeprefix("ValueError: ") for fp, title in titles.items()}
    assert set(counts) == set(named), "an error was reported but never named"
    return {named[fp]: count for fp, count in counts.items()}


def _timeline(requests: list[Received], marks: dict[str, float]) -> str:
    """What a failure shows: each message's arrival (seconds after the storm began), kind,
    title and sender, and when Redis stopped and started."""
    start = marks["before"]
    lines = [f"{name} at {at - start:.2f}" for name, at in marks.items()]
    for r in requests:
        event = r.json["event"]
        lines.append(f"{r.at - start:7.2f} {r.json['kind']:7} {event['title']} ({event['pid']})")
    return "\n".join(lines)


def test_redis_down_30_s_the_robot_limit_holds_and_the_digests_are_exact(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.default = Answer(body={"ok": True})
    webhook = f"webhook+{receiver.base}/hook?rate={LIMIT}/{PERIOD:g}"
    redis = PersistentRedis(free_port(), tmp_path)
    store = f"{redis.url}?namespace={unique('fleet-outage')}"
    pipes, processes = [], []
    for child in range(CHILDREN):
        mine, theirs = ctx.Pipe()
        pipes.append(mine)
        processes.append(
            ctx.Process(target=worker.run, args=(child, store, webhook, WINDOW, theirs))
        )
    redis.start()
    try:
        for process in processes:
            process.start()
        for pipe in pipes:
            assert pipe.poll(60), "a child did not start"
            assert pipe.recv()[0] == "ready"

        def phase(name: str) -> None:
            for pipe in pipes:
                pipe.send(("phase", name))
            for pipe in pipes:
                assert pipe.poll(30)
                assert pipe.recv() == "ok"

        marks: dict[str, float] = {}
        phase("before")
        marks["before"] = time.monotonic()
        time.sleep(10)  # the storm on Redis: 64 errors, 20 alerts, the rest a summary
        redis.stop()
        marks["stop"] = time.monotonic()
        phase("outage")  # 32 new errors while Redis is down
        time.sleep(30)
        redis.start()  # back, with what it held
        marks["start"] = time.monotonic()
        phase("after")
        time.sleep(15)
        for pipe in pipes:
            pipe.send(("quit",))
        captured: collections.Counter[str] = collections.Counter()
        for pipe in pipes:
            assert pipe.poll(240), "a child did not finish"
            counts, flushed, closed, failures = pipe.recv()
            assert (flushed, closed, failures) == (True, True, 0)
            captured.update(counts)
        for process in processes:
            process.join(30)
            assert process.exitcode == 0
        by_children = len(receiver.requests)
        # the windows still open in Redis: their digests, claimed past the window's end by
        # the test process (its clock jumped: its sends are not in the children's minute)
        flush_after_window(receiver, store, "fleet-outage")
        requests = receiver.wait_for(len(receiver.requests) + 1, timeout=1.0)
    finally:
        stop_all(processes)
        redis.stop()
    # the robot's limit, before, during and after the outage (arrival times on a loaded
    # machine: a request can take 0.1-0.3 s to be read, so the window is that much shorter)
    sent = requests[:by_children]
    assert max_in_any([r.at for r in sent], PERIOD - 0.3) <= LIMIT, _timeline(sent, marks)
    reported = _reported([r.json for r in requests])
    assert len(captured) == CHILDREN * (worker.BASE + worker.NEW_IN_OUTAGE)
    differ = {t: (reported.get(t), n) for t, n in captured.items() if reported.get(t) != n}
    assert differ == {}, f"reported != captured: {differ}\n{_timeline(requests, marks)}"
    assert set(reported) == set(captured)
