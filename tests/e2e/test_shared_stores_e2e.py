"""Acceptance of the shared stores, end to end: real processes (spawned children, gunicorn
workers) capture real exceptions through the whole Alerter pipeline, share their counts in a
real SQLite file or a real redis-server, and post to a real HTTP receiver on 127.0.0.1.

1. 8 processes x 500 captures on one SQLite file → 1 alert, then 1 digest of 3999, which
   says it came from 8 processes on one host.
2. The same on Redis, from one "host" and from two hosts (4 processes each: "from 2 hosts
   (8 processes)").
3. gunicorn, 4 workers, the Flask reference app on SQLite: 200 failing requests → 1 alert,
   then (sent by a live worker when the window ends) 1 digest of 199; shutdown sends nothing.
4. Redis stops in the middle of a storm: nothing raises, alerts keep flowing per process, and
   once Redis is back the processes share their counts again.

Where a digest must come from a process alive after the window end and the window is long
(items 1, 2, 4), the test process opens an Alerter on the same store with its clock jumped
past the window end (freezegun) and flushes: no sleeping through the window.
"""

from __future__ import annotations

import multiprocessing
import queue
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import httpx
import pytest
from freezegun import freeze_time

import erralert
from erralert._stores import Store
from tests.e2e import shared_store_worker as worker
from tests.receiver import Received, Receiver
from tests.servers import free_port, redis_server, server_process

WINDOW = 300.0  # items 1, 2 and 4: the test process jumps past the window's end itself
PROCESSES = 8
CAPTURES = 500
GUNICORN_WINDOW = 5.0  # item 3: the workers' own delivery thread sends the digest
REQUESTS = 200
RETRY_AFTER = 0.5  # item 4: seconds between two probes of a Redis that went away

ctx = multiprocessing.get_context("spawn")


# -- helpers ----------------------------------------------------------------------------------


def webhook(receiver: Receiver) -> str:
    return f"webhook+{receiver.base}/hook"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def kind(message: Received) -> str:
    return str(message.json["kind"])


def error_type(message: Received, messages: Sequence[Received] = ()) -> str:
    """The exception class name (without its module) of a message. A digest whose sample
    was lost carries a stand-in event without the exception: it is named through its
    fingerprint from the other ``messages``, else ``"?<title>"``."""
    event = message.json["event"]
    if event["exceptions"]:
        return str(event["exceptions"][0]["type"]).rsplit(".", 1)[-1]
    for other in messages:
        known = other.json["event"]
        if known["exceptions"] and known["fingerprint"] == event["fingerprint"]:
            return str(known["exceptions"][0]["type"]).rsplit(".", 1)[-1]
    return f"?{event['title']}"


def select(messages: list[Received], error: str, of_kind: str | None = None) -> list[Received]:
    return [
        m
        for m in messages
        if error_type(m, messages) == error and (of_kind is None or kind(m) == of_kind)
    ]


def summary(messages: list[Received]) -> list[tuple[str, str, int]]:
    """(kind, error, count) of every message: what an assertion failure shows."""
    return [
        (kind(m), error_type(m, messages), int(m.json["occurrences"]["count"])) for m in messages
    ]


def wait_until(
    receiver: Receiver, done: Callable[[list[Received]], bool], timeout: float
) -> list[Received]:
    """The messages received once ``done`` holds for them, or when ``timeout`` expires."""
    deadline = time.monotonic() + timeout
    while True:
        got = list(receiver.requests)
        remaining = deadline - time.monotonic()
        if done(got) or remaining <= 0:
            return got
        receiver.wait_for(len(got) + 1, timeout=min(remaining, 1.0))


def quiet_after(receiver: Receiver, expected: int) -> list[Received]:
    """Everything received, after giving a message beyond ``expected`` a chance to arrive
    (every sender has exited or closed by then, so this is a count check, not a race)."""
    return receiver.wait_for(expected + 1, timeout=0.5)


def flush_after_window(receiver: Receiver, store: str | Store, service: str) -> None:
    """A process alive after the window end: the test process itself, its clock jumped past
    the end of every window the children opened, flushes (claims and sends the digests).
    A Redis store is told to trust this clock (``clock=local``): it would otherwise take the
    jump for a skewed host clock and work in Redis' time (erralert._stores.redis_clock)."""
    if isinstance(store, str) and store.startswith("redis"):
        store += ("&" if "?" in store else "?") + "clock=local"
    alerter = erralert.Alerter([webhook(receiver)], service=service, window=WINDOW, store=store)
    try:
        later = datetime.fromtimestamp(time.time() + WINDOW + 5, tz=UTC)
        # tick: the outbox's deadline clock keeps moving; real_asyncio: so does its loop
        with freeze_time(later, tick=True, real_asyncio=True):
            assert alerter.flush(10)
    finally:
        alerter.close(5)


def stop_all(processes: list[SpawnProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
        process.join(10)


def assert_only_ids(tally: worker.Tally) -> None:
    """capture_exception never raised and always answered an event id."""
    assert (tally.raised, tally.returned_none) == (0, 0), tally


# -- 1 and 2: 8 processes x 500 captures of one error -----------------------------------------


def run_bursts(receiver: Receiver, store: str, service: str, hosts: list[str | None]) -> None:
    """One spawned child per entry of ``hosts`` (its host name, None: the real one), each
    capturing the same error CAPTURES times at once, then flushing and closing."""
    barrier = ctx.Barrier(len(hosts))
    results: Queue[worker.BurstResult] = ctx.Queue()
    args = (store, webhook(receiver), service, WINDOW, CAPTURES)
    children = [
        ctx.Process(target=worker.burst, args=(*args, host, barrier, results)) for host in hosts
    ]
    try:
        for child in children:
            child.start()
        done = [results.get(timeout=60) for _ in children]
        for child in children:
            child.join(30)
            assert child.exitcode == 0
    finally:
        stop_all(children)
    assert sorted(r.host or "" for r in done) == sorted(h or "" for h in hosts)
    assert len({r.tally.pid for r in done}) == len(hosts)  # really separate processes
    for result in done:
        assert result.tally.captures == CAPTURES
        assert_only_ids(result.tally)
        assert result.flushed
        assert result.closed


def assert_one_alert_then_one_digest(
    receiver: Receiver, store: str, service: str, hosts: list[str | None]
) -> None:
    total = len(hosts) * CAPTURES
    # every child has closed: all it had to send is in
    sent = quiet_after(receiver, 1)
    assert [kind(m) for m in sent] == ["alert"], summary(sent)
    alert = sent[0].json
    assert error_type(sent[0]) == "CardDeclined"
    assert alert["version"] == 1
    assert alert["occurrences"]["count"] == 1
    assert alert["occurrences"]["total"] == 1
    assert alert["occurrences"]["is_new"] is True
    assert alert["event"]["service"] == service
    if hosts[0] is not None:
        assert alert["event"]["host"] in set(hosts)

    flush_after_window(receiver, store, service)
    sent = quiet_after(receiver, 2)
    assert [kind(m) for m in sent] == ["alert", "digest"], summary(sent)
    digest = sent[1].json
    assert error_type(sent[1]) == "CardDeclined"
    assert digest["occurrences"]["count"] == total - 1  # 3999: no repeat lost or doubled
    assert digest["occurrences"]["total"] == total
    assert sum(digest["occurrences"]["histogram"]) == total - 1
    assert digest["event"]["fingerprint"] == alert["event"]["fingerprint"]
    assert digest["event"]["event_id"] == alert["event"]["event_id"]  # the alert's sample
    # where the repeats came from: every process (the alerting one repeated too), its host
    machines = len(set(hosts))
    assert (digest["occurrences"]["processes"], digest["occurrences"]["hosts"]) == (
        len(hosts),
        machines,
    )
    # one release (the checkout's commit, when it is found), the alert's: not repeated
    release = alert["event"]["release"]
    assert digest["occurrences"]["releases"] == ([release] if release else [])
    if machines > 1:
        assert f"from {machines} hosts ({len(hosts)} processes)\n" in digest["text"]
    else:
        assert f"from {len(hosts)} processes on one host\n" in digest["text"]


def test_sqlite_8_processes_500_captures_one_alert_one_digest(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Item 1: 8 processes x 500 captures on one SQLite file → 1 alert, 1 digest of 3999."""
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    service = unique("sqlite-burst")
    hosts: list[str | None] = [None] * PROCESSES
    run_bursts(receiver, store, service, hosts)
    assert_one_alert_then_one_digest(receiver, store, service, hosts)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.mark.parametrize(
    "hosts",
    [[None] * PROCESSES, ["host-a"] * (PROCESSES // 2) + ["host-b"] * (PROCESSES // 2)],
    ids=["1-host-8-processes", "2-hosts-4-processes-each"],
)
def test_redis_processes_and_hosts_one_alert_one_digest(
    receiver: Receiver, redis_url: str, hosts: list[str | None]
) -> None:
    """Item 2: the same on Redis, also from two hosts (two groups of processes whose events
    carry different host names) sharing one Redis."""
    namespace = unique("burst")
    store = f"{redis_url}?namespace={namespace}"
    run_bursts(receiver, store, namespace, hosts)
    assert_one_alert_then_one_digest(receiver, store, namespace, hosts)


# -- 3: gunicorn, 4 workers, the Flask reference app on SQLite ---------------------------------


@contextmanager
def gunicorn_flask(env: dict[str, str], access_log: Path) -> Iterator[str]:
    """tests.servers.gunicorn, plus an access log naming the worker of each request."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "integrations.flask_app:app"]
    argv += ["-b", f"127.0.0.1:{port}", "-w", "4", "--graceful-timeout", "5"]
    argv += ["--log-level", "warning", "--access-logfile", str(access_log)]
    argv += ["--access-logformat", "%(p)s %(s)s %(m)s %(U)s"]
    with server_process(argv, port, env) as url:
        yield url


def access_lines(access_log: Path) -> list[list[str]]:
    if not access_log.exists():
        return []
    return [line.split() for line in access_log.read_text().splitlines() if line.strip()]


def test_gunicorn_4_workers_flask_sqlite_one_alert_one_digest(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Item 3: 200 failing requests over 4 gunicorn workers → 1 alert; when the window ends a
    live worker sends 1 digest of 199; stopping gunicorn sends nothing more."""
    service = unique("flask-shop")
    access_log = tmp_path / "access.log"
    env = {
        "ERRALERT_WEBHOOKS": webhook(receiver),
        "ERRALERT_WINDOW": str(GUNICORN_WINDOW),
        "ERRALERT_STORE": f"sqlite:///{tmp_path / 'shop.db'}",
        "ERRALERT_SERVICE": service,
    }
    with (
        gunicorn_flask(env, access_log) as base,
        httpx.Client(base_url=base, timeout=10) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        # warm up until every worker has loaded the app (each answered once), so that the
        # failing requests really spread over 4 processes
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert set(pool.map(lambda _: client.get("/health").text, range(16))) == {"ok"}
            if len({line[0] for line in access_lines(access_log)}) >= 4:
                break
        assert receiver.requests == []  # /health fails nothing

        def pay(_: int) -> tuple[int, str]:
            response = client.post("/orders/42/pay")
            return response.status_code, response.text

        answers = list(pool.map(pay, range(REQUESTS)))
        assert {status for status, _ in answers} == {500}
        assert all("Internal Server Error" in text for _, text in answers)  # Flask's own

        # the digest comes from whichever worker's delivery thread claims it first
        sent = receiver.wait_for(2, timeout=GUNICORN_WINDOW + 15)
        assert [kind(m) for m in sent] == ["alert", "digest"], summary(sent)
    # gunicorn has stopped (its workers exited, closing their alerters): nothing more came
    sent = quiet_after(receiver, 2)
    assert [kind(m) for m in sent] == ["alert", "digest"], summary(sent)
    alert, digest = sent[0].json, sent[1].json
    assert error_type(sent[0]) == error_type(sent[1]) == "PaymentDeclined"
    assert alert["occurrences"]["count"] == 1
    assert alert["occurrences"]["is_new"] is True
    assert alert["event"]["service"] == service
    assert alert["event"]["request"]["method"] == "POST"
    assert "/orders/42/pay" in alert["event"]["request"]["url"]
    assert digest["occurrences"]["count"] == REQUESTS - 1
    assert digest["occurrences"]["total"] == REQUESTS
    assert digest["event"]["fingerprint"] == alert["event"]["fingerprint"]
    failing_workers = {
        line[0]
        for line in access_lines(access_log)
        if line[1:] == ["500", "POST", "/orders/42/pay"]
    }
    assert len(failing_workers) >= 2, failing_workers  # the count really was shared


# -- 4: Redis stops in the middle of a storm ------------------------------------------------


class RedisOnPort:
    """A redis-server on a fixed port, to stop it and start an empty one in its place."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._running: AbstractContextManager[str] | None = None

    def start(self) -> None:
        argv = [shutil.which("redis-server") or "redis-server", "--port", str(self.port)]
        argv += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        running = server_process(argv, self.port)
        running.__enter__()
        self._running = running

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.__exit__(None, None, None)


class Children:
    """The long-lived children of item 4, each driven through its own pipe."""

    def __init__(self, count: int, args: tuple[Any, ...]) -> None:
        self.events: Queue[tuple[str, int, str]] = ctx.Queue()
        self.log: list[tuple[str, int, str]] = []  # every event received, for failures
        # held here: Process.start() drops its args, and a semaphore the parent no longer
        # references is unlinked before a spawned child can open it
        self.barrier = ctx.Barrier(count)
        self.pipes: list[Connection] = []
        self.processes: list[SpawnProcess] = []
        for index in range(count):
            mine, theirs = ctx.Pipe()
            self.pipes.append(mine)
            self.processes.append(
                ctx.Process(
                    target=worker.outage_worker,
                    args=(index, *args, theirs, self.events, self.barrier),
                )
            )

    def start(self) -> list[int]:
        for process in self.processes:
            process.start()
        return [pid for _, pid in self.receive()]

    def send(self, *command: Any) -> None:
        for pipe in self.pipes:
            pipe.send(command)

    def receive(self, timeout: float = 30.0) -> list[Any]:
        answers = []
        for index, pipe in enumerate(self.pipes):
            assert pipe.poll(timeout), f"child {index} did not answer"
            answers.append(pipe.recv())
        return answers

    def ask(self, *command: Any) -> list[Any]:
        self.send(*command)
        return self.receive()

    def wait_each(self, what: str, text: str = "", timeout: float = 20.0) -> None:
        """Until every child has sent the event ``what`` (whose text contains ``text``)."""
        deadline = time.monotonic() + timeout
        pending = set(range(len(self.processes)))
        pending -= {i for w, i, t in self.log if w == what and text in t}
        while pending:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {what} {text!r} from children {pending}: {self.log}"
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.log.append(event)
            if event[0] == what and text in event[2]:
                pending.discard(event[1])

    def stop(self) -> None:
        stop_all(self.processes)


def test_redis_outage_mid_storm_falls_back_and_shares_again(receiver: Receiver) -> None:
    """Item 4: Redis stops in the middle of a storm. No capture raises, a new error raised
    during the outage is alerted (by each process: each counts alone meanwhile), and once
    Redis is back on the same port the processes share their counts again: a brand-new
    error captured by both → exactly one alert between them."""
    redis = RedisOnPort(free_port())
    namespace = unique("outage")
    args = (redis.url, namespace, webhook(receiver), namespace, WINDOW, RETRY_AFTER)
    children = Children(2, args)
    redis.start()
    try:
        pids = children.start()
        assert children.ask("storm", 500) == ["storming", "storming"]
        children.wait_each("progress")  # 200 captures each, on Redis
        sent = wait_until(receiver, lambda got: len(got) >= 1, timeout=10)
        assert summary(sent) == [("alert", "StormError", 1)]  # shared: one between the two

        redis.stop()  # in the middle of the storm
        children.wait_each("log", "unreachable")
        outage_tallies = children.ask("capture", "outage", 20)  # while Redis is down
        for tally in outage_tallies:
            assert tally.captures == 20
            assert_only_ids(tally)
        # alerts keep flowing while Redis is down: each process alerts the new error once
        sent = wait_until(
            receiver, lambda got: len(select(got, "OutageError", "alert")) >= 2, timeout=15
        )
        outage_alerts = select(sent, "OutageError", "alert")
        assert sorted(m.json["event"]["pid"] for m in outage_alerts) == sorted(pids)
        assert {m.json["event"]["tags"]["worker"] for m in outage_alerts} == {"0", "1"}

        redis.start()  # an empty Redis on the same port
        children.wait_each("log", "reachable again")  # each child probed it again
        for tally in children.ask("calm"):
            assert tally.captures > 200
            assert_only_ids(tally)  # nothing raised before, during or after the outage

        for tally in children.ask("capture", "recovered", 50):  # both at once
            assert tally.captures == 50
            assert_only_ids(tally)
        assert children.ask("quit") == [(True, True), (True, True)]
        for process in children.processes:
            process.join(30)
            assert process.exitcode == 0

        sent = quiet_after(receiver, len(receiver.requests))
        recovered = select(sent, "RecoveredError")
        assert summary(recovered) == [("alert", "RecoveredError", 1)], summary(sent)
        assert select(sent, "OutageError", "alert") == outage_alerts  # no more of them
        # the counts kept in each process during the outage are handed over, not lost
        outage_digests = select(sent, "OutageError", "digest")
        assert sorted(m.json["occurrences"]["count"] for m in outage_digests) == [19, 19]

        # counting is shared again: both processes' repeats are in one digest
        flush_after_window(receiver, f"{redis.url}?namespace={namespace}", namespace)
        sent = quiet_after(receiver, len(receiver.requests))
        recovered = select(sent, "RecoveredError")
        assert summary(recovered) == [
            ("alert", "RecoveredError", 1),
            ("digest", "RecoveredError", 2 * 50 - 1),
        ], summary(sent)
    finally:
        children.stop()
        redis.stop()
