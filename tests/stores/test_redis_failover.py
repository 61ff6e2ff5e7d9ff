"""Failovers under load, with real servers: a primary demoted to a replica and promoted
back (REPLICAOF, the store pointed at it by a plain redis:// URL), and a real Sentinel
failover (SENTINEL FAILOVER, the store on a redis+sentinel:// URL), while 8 threads
capture errors through the whole Alerter pipeline into ``erralert.testing``'s recorder.

What is counted, precisely:

* **distinct errors** — each thread captures its own errors, each exactly once (a
  fingerprint of its own: the logger name ``t<thread>.e<n>``). Each must be alerted
  exactly once: *lost* = a distinct error with no alert, *duplicated* = one with more than
  one. Both are asserted 0, whatever the interleaving of captures and role changes;
* **hot errors** — 4 errors every thread captures again and again. Their alerts are only
  measured (printed with ``-s``): a process that first meets one while Redis is stood in
  for alerts it from its in-process count, however often Redis already did. Here one
  process holds every thread, and it counts repeats of a window Redis named by itself, so
  each is alerted once; across processes each may be alerted once more per outage.

Each run checks that the outage really happened (its warning, and captures made during
it) and ended (Redis used again, captures after it)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import redis
from redis.sentinel import Sentinel

import erralert
from erralert._stores.redis import RedisStore
from erralert.testing import CapturedAlert, capture_alerts
from tests.redis_servers import sentinel_pair, wait_for
from tests.servers import redis_server

pytestmark = pytest.mark.e2e

THREADS = 8
HOT = 4  # errors every thread captures again and again
PER_PHASE = 300  # captures (all threads together) before, during and after the outage
CAP = 20_000  # a bound on each thread's captures, should a phase never end
PACE = 0.002  # seconds a thread waits between two captures: load, not a busy loop


@dataclass
class Load:
    """Threads capturing through ``alerter`` until stopped; what they captured."""

    alerter: erralert.Alerter
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    distinct: list[str] = field(default_factory=list)  # each captured once
    captures: int = 0
    returned_none: int = 0
    raised: list[BaseException] = field(default_factory=list)

    def work(self, thread: int) -> None:
        try:
            for n in range(CAP):
                if self.stop.wait(PACE):
                    return
                name = f"t{thread}.e{n}"
                ids = [self.alerter.capture_message("order sync failed", logger_name=name)]
                hot = f"hot{n % HOT}"
                ids.append(self.alerter.capture_message("stock feed stalled", logger_name=hot))
                with self.lock:
                    self.distinct.append(name)
                    self.captures += 1
                    self.returned_none += ids.count(None)
        except BaseException as exc:
            self.raised.append(exc)

    def count(self) -> int:
        with self.lock:
            return self.captures


@contextmanager
def load_on(store: RedisStore) -> Iterator[tuple[Load, list[CapturedAlert]]]:
    alerter = erralert.Alerter(["webhook+http://127.0.0.1:9/x"], window=600, service="ha")
    load = Load(alerter)
    threads = [threading.Thread(target=load.work, args=(t,)) for t in range(THREADS)]
    try:
        with capture_alerts(alerter, store=store) as alerts:
            for thread in threads:
                thread.start()
            try:
                yield load, alerts
            finally:
                load.stop.set()
                for thread in threads:
                    thread.join(60)
    finally:
        alerter.close(0.5)


def more_captures(load: Load, count: int) -> None:
    start = load.count()
    wait_for(lambda: load.count() >= start + count, f"{count} more captures", timeout=60)


def check(load: Load, alerts: list[CapturedAlert]) -> Counter[str]:
    """0 lost, 0 duplicated among the distinct errors; the hot errors' alerts, counted."""
    assert load.raised == []
    assert load.returned_none == 0  # every capture answered an event id
    by_logger = Counter(a.notice.event.logger for a in alerts if a.kind == "alert")
    lost = [name for name in load.distinct if by_logger[name] == 0]
    duplicated = {name: by_logger[name] for name in load.distinct if by_logger[name] > 1}
    assert (len(lost), duplicated) == (0, {}), lost[:10]
    assert len(load.distinct) == len(set(load.distinct))
    hot = Counter({name: n for name, n in by_logger.items() if name.startswith("hot")})
    print(f"\n{len(load.distinct)} distinct errors, each alerted once; hot alerts: {dict(hot)}")
    assert sorted(hot) == [f"hot{n}" for n in range(HOT)]  # every hot error alerted
    return hot


def outage_seen(caplog: pytest.LogCaptureFixture, cause: str) -> Callable[[], bool]:
    def seen() -> bool:
        return any(cause in r.getMessage() for r in caplog.records)

    return seen


def test_a_primary_demoted_and_promoted_under_load(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    with redis_server() as url, redis_server() as other_url:
        one, two = redis.Redis.from_url(url), redis.Redis.from_url(other_url)
        one_port = one.connection_pool.connection_kwargs["port"]
        two_port = two.connection_pool.connection_kwargs["port"]
        two.replicaof("127.0.0.1", one_port)  # the store's server is the primary
        wait_for(lambda: two.info("replication")["master_link_status"] == "up", "replica")
        store = RedisStore(url, namespace="ha", retry_after=0.05, timeout=1.0)
        with load_on(store) as (load, alerts):
            more_captures(load, PER_PHASE)
            # a failover: the replica is promoted, the store's server demoted under it
            two.replicaof("NO", "ONE")
            one.replicaof("127.0.0.1", two_port)
            wait_for(outage_seen(caplog, "refusing commands (READONLY"), "READONLY seen")
            more_captures(load, PER_PHASE)  # captured while Redis refuses writes
            # and back: the store's server is the primary again
            one.replicaof("NO", "ONE")
            two.replicaof("127.0.0.1", one_port)
            wait_for(outage_seen(caplog, "reachable again"), "Redis used again")
            more_captures(load, PER_PHASE)
        assert not store.outage.active
        check(load, alerts)
        store.close()
        one.close()
        two.close()


def test_a_sentinel_failover_under_load(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    with sentinel_pair() as watched:
        url = f"redis+sentinel://127.0.0.1:{watched.sentinel}/{watched.service}"
        store = RedisStore(url, namespace="ha", retry_after=0.05, timeout=1.0)
        sentinel = redis.Redis(port=watched.sentinel)
        sentinels = Sentinel([("127.0.0.1", watched.sentinel)])

        def primary_port() -> int:
            return int(sentinels.discover_master(watched.service)[1])

        old = redis.Redis(port=watched.primary)
        promoted = redis.Redis(port=watched.replica)

        def windows() -> int:
            return len(promoted.keys("{erralert:ha}:w:*"))

        with load_on(store) as (load, alerts):
            more_captures(load, PER_PHASE)
            sentinel.execute_command("SENTINEL FAILOVER", watched.service)
            wait_for(lambda: primary_port() == watched.replica, "the replica promoted")
            more_captures(load, PER_PHASE)
            # The old primary takes writes until the Sentinel turns it into a replica (at
            # its next INFO, within 10 s); then it drops its clients, and the store asks
            # the Sentinel again: an outage if a command was under way, else seamless.
            wait_for(lambda: old.info("replication")["role"] == "slave", "old primary demoted")
            before = windows()
            more_captures(load, PER_PHASE)
            wait_for(lambda: windows() > before, "the store writes to the new primary")
        assert not store.outage.active
        check(load, alerts)
        # What the old primary took after the promotion is gone with its data set
        # (asynchronous replication, a split brain until the Sentinel demoted it): the
        # alerts were sent, only their windows are forgotten. Measured, not hidden.
        outages = [r.getMessage() for r in caplog.records if "is unreachable" in r.getMessage()]
        print(f"outages seen: {len(outages)} {outages[:1]}")
        print(f"windows the new primary holds: {windows()} of {len(load.distinct) + HOT}")
        for client in (old, promoted, sentinel, *sentinels.sentinels):
            client.close()
        store.close()
