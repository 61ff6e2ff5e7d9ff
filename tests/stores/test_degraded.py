"""While the shared store is down, each process books under its share of a robot's budget
(erralert._stores.degraded), and the store learns those sends when it is back."""

from __future__ import annotations

import itertools
import socket
import threading
import time

import pytest

from erralert._core.pacing import Rate, share_of
from erralert._stores.base import StormEntry
from erralert._stores.degraded import DegradedLedger
from erralert._stores.fleet import LEASE, Member
from erralert._stores.memory import MemoryStore
from erralert._stores.redis import RedisStore
from tests.samples import event
from tests.servers import free_port
from tests.stores.test_redis import _redis_on

DINGTALK = (Rate(20, 60.0),)
TELEGRAM = (Rate(1, 1.0), Rate(20, 60.0))
T0 = 1_700_000_000.0
_names = itertools.count()


@pytest.mark.parametrize(
    ("rates", "processes", "share"),
    [
        (DINGTALK, 1, DINGTALK),
        (DINGTALK, 8, (Rate(2, 60.0),)),
        (DINGTALK, 20, (Rate(1, 60.0),)),
        (DINGTALK, 50, (Rate(1, 150.0),)),
        (TELEGRAM, 8, (Rate(1, 8.0), Rate(2, 60.0))),
    ],
)
def test_a_share_keeps_every_rate_together(
    rates: tuple[Rate, ...], processes: int, share: tuple[Rate, ...]
) -> None:
    assert share_of(rates, processes) == share
    for rate, part in zip(rates, share, strict=True):
        # the processes together, over the rate's period: never more than its limit
        assert processes * part.limit * rate.period / part.period <= rate.limit


def test_during_an_outage_a_process_waits_a_period_then_sends_its_share() -> None:
    ledger = DegradedLedger(lambda lane: 8)
    fallback = MemoryStore()
    slots = [ledger.reserve(fallback, "robot", T0 + i, DINGTALK, 3600.0) for i in range(5)]
    # as if its share (2 per 60 s) had just been used: the first two wait a minute
    assert slots == [T0 + 60, T0 + 60, T0 + 120, T0 + 120, T0 + 180]
    booked = ledger.take(T0 + 30)  # the store is back
    assert booked == {"robot": (20, [T0 + 60, T0 + 60, T0 + 120, T0 + 120, T0 + 180])}
    assert ledger.take(T0 + 31) == {}  # handed over once
    # for a period of its rates the lane settles: still on the share, on the outage's ledger
    assert ledger.settling("robot", T0 + 30 + 59) is fallback
    assert ledger.settling("robot", T0 + 30 + 61) is None
    assert ledger.settling("other", T0 + 31) is None  # not used in the outage: the store's
    assert ledger.reserve(fallback, "robot", T0 + 40, DINGTALK, 3600.0) == T0 + 180
    assert ledger.take(T0 + 41) == {}  # what settles, the store books as it is booked


def test_a_new_outage_starts_afresh() -> None:
    ledger = DegradedLedger(lambda lane: 20)
    first = MemoryStore()
    assert ledger.reserve(first, "robot", T0, DINGTALK, 3600.0) == T0 + 60
    second = MemoryStore()  # the next outage's fallback
    assert ledger.reserve(second, "robot", T0 + 500, DINGTALK, 3600.0) == T0 + 560
    assert ledger.take(T0 + 600) == {"robot": (20, [T0 + 560])}


@pytest.mark.e2e
def test_processes_share_a_robot_while_redis_is_down_and_redis_learns_their_sends() -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    lane = f"robot-{next(_names)}"
    with _redis_on(port):
        # clock="local": the test moves time itself (T0), and forces a check-in ahead of it
        stores = [
            RedisStore(url, namespace="shop", retry_after=0.2, timeout=0.5, clock="local")
            for _ in range(8)
        ]
        for i, store in enumerate(stores):
            store.join(Member(f"host:{i}", "shop", "host", None, (lane,)))
            store.claim_due(time.time())  # checks in: eight processes post to the robot
        one = stores[0]
        one.claim_due(time.time() + LEASE)  # its next check-in: it sees all eight now
        assert one.reserve(lane, T0, DINGTALK, 60.0) == T0  # Redis books it
    # Redis is gone: this process books under its share, as if it had been used
    assert one.reserve(lane, T0 + 1, DINGTALK, 3600.0) == T0 + 61
    assert one.reserve(lane, T0 + 2, DINGTALK, 3600.0) == T0 + 61
    assert one.reserve(lane, T0 + 3, DINGTALK, 3600.0) == T0 + 121
    with _redis_on(port):  # back, empty: it learns this process's three sends
        time.sleep(0.3)  # the store retries Redis at most every 0.2 s
        # the lane settles for a minute: still on the share (2 per 60 s), each booking added
        # to Redis at once; the ledger is the robot's queue, so later sends go after it
        assert one.reserve(lane, T0 + 4, DINGTALK, 3600.0) == T0 + 121
        other = RedisStore(url, namespace="billing")
        slots = [other.reserve(lane, T0 + 5, DINGTALK, 3600.0) for _ in range(19)]
        assert slots[:18] == [T0 + 121] * 18  # 2 booked in (T0 + 61, T0 + 121] already
        assert slots[18] == T0 + 181  # the 21st in that minute waits a minute
        other.close()
        for store in stores:
            store.close()


class _Silent:
    """A TCP port that accepts connections and never answers (a Redis that hangs): counts
    the connections made to it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.accepted:
            connection.close()


def test_while_redis_hangs_a_member_waits_for_it_once_per_retry_not_per_call() -> None:
    """An outage's fallback starts empty (a MemoryStore with nothing in it is falsy): the
    store must still use it, not wait for Redis' timeout on every capture and booking."""
    silent = _Silent()
    try:
        store = RedisStore(
            f"redis://127.0.0.1:{silent.port}/0", namespace="hang", timeout=0.2, retry_after=60
        )
        store.join(Member("hang", "shop", "host", None, ("robot",)))
        started = len(silent.accepted)
        assert store.reserve("robot", T0, DINGTALK, 3600.0) == T0 + 60  # times out once
        tried = len(silent.accepted) - started
        store.add_to_storm("robot", _entry(), event("x"), T0, 3.0)
        assert store.hit("k", T0, 60.0).alert
        assert store.reserve("robot", T0 + 1, DINGTALK, 3600.0) == T0 + 60
        assert len(silent.accepted) - started == tried  # no connection since
        assert store.outage.active
    finally:
        silent.close()


def _entry() -> StormEntry:
    return StormEntry("x", "ValueError: x", "app.x", 1, 60.0)
