"""Silenced counts (occurrences a routing rule with no webhooks swallowed), per rule id, in
every store: the contract scenarios run against memory, SQLite and Redis (the factories of
test_contract.py); then what only a shared store owes — one total for every handle, one
transaction or round trip per add, namespaces, an old file, retention, a Redis outage."""

from __future__ import annotations

import itertools
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from erralert._stores import Silenced, open_store
from erralert._stores.base import Store
from erralert._stores.memory import MemoryStore
from erralert._stores.redis import RedisStore
from erralert._stores.sqlite import SQLiteStore
from tests.servers import free_port, server_process
from tests.stores.redis_commands import commands_sent, names

W = 60.0
T0 = 1_700_000_000.0
_namespaces = itertools.count()


def _sqlite_pair(request: pytest.FixtureRequest, tmp: Path) -> tuple[Store, Store]:
    path = str(tmp / "silenced.db")
    return SQLiteStore(path), SQLiteStore(path)


def _redis_pair(request: pytest.FixtureRequest, tmp: Path) -> tuple[Store, Store]:
    url: str = request.getfixturevalue("redis_url")
    namespace = f"silenced-{next(_namespaces)}"
    return RedisStore(url, namespace=namespace), RedisStore(url, namespace=namespace)


PAIRS: dict[str, Callable[[pytest.FixtureRequest, Path], tuple[Store, Store]]] = {
    "sqlite": _sqlite_pair,
    "redis": _redis_pair,
}


@pytest.fixture(params=sorted(PAIRS))
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two handles on one shared store (two processes, or two hosts, of one service)."""
    one, two = PAIRS[request.param](request, tmp_path)
    yield one, two
    one.close()
    two.close()


# -- the contract: every store ----------------------------------------------------------------


def test_nothing_silenced_yet(store: Store) -> None:
    assert store.silenced() == {}


def test_counts_are_added_per_rule(store: Store) -> None:
    store.count_silenced({"noisy": 3, "cron": 1}, T0)
    assert store.silenced() == {
        "noisy": Silenced(count=3, first_seen=T0, last_seen=T0),
        "cron": Silenced(count=1, first_seen=T0, last_seen=T0),
    }


def test_counts_accumulate_across_calls_and_first_seen_stays(store: Store) -> None:
    store.count_silenced({"noisy": 3}, T0)
    store.count_silenced({"noisy": 2, "cron": 4}, T0 + 1.5)
    store.count_silenced({"noisy": 1}, T0 + 7.25)
    assert store.silenced() == {
        "noisy": Silenced(count=6, first_seen=T0, last_seen=T0 + 7.25),
        "cron": Silenced(count=4, first_seen=T0 + 1.5, last_seen=T0 + 1.5),
    }


def test_an_add_stamped_earlier_does_not_move_last_seen_back(store: Store) -> None:
    # processes' (or hosts') clocks disagree a little: the span only ever widens
    store.count_silenced({"noisy": 1}, T0 + 10)
    store.count_silenced({"noisy": 1}, T0 + 8)
    assert store.silenced() == {"noisy": Silenced(2, T0 + 8, T0 + 10)}


def test_an_empty_mapping_and_counts_below_one_are_no_ops(store: Store) -> None:
    store.count_silenced({}, T0)
    store.count_silenced({"zero": 0, "negative": -4}, T0)
    assert store.silenced() == {}
    store.count_silenced({"noisy": 2}, T0)
    store.count_silenced({"noisy": 0, "other": -1}, T0 + 5)  # not an add: last_seen stays
    assert store.silenced() == {"noisy": Silenced(2, T0, T0)}


def test_rule_ids_are_any_text_and_exact_floats_survive(store: Store) -> None:
    rules = {"ü/{x}": 1, "c:l:f:": 2, "with space": 3, "": 4}
    now = T0 + 0.1  # not representable in 14 digits' worth of Lua tostring
    store.count_silenced(rules, now)
    assert store.silenced() == {rule: Silenced(n, now, now) for rule, n in rules.items()}


def test_silenced_answers_a_copy(store: Store) -> None:
    store.count_silenced({"noisy": 1}, T0)
    answer = store.silenced()
    answer.clear()
    assert store.silenced() == {"noisy": Silenced(1, T0, T0)}


def test_many_adds_keep_one_record_per_rule(store: Store) -> None:
    for i in range(500):
        store.count_silenced({"noisy": 1, f"rule-{i % 3}": 2}, T0 + i)
    assert store.silenced() == {
        "noisy": Silenced(500, T0, T0 + 499),
        "rule-0": Silenced(334, T0, T0 + 498),
        "rule-1": Silenced(334, T0 + 1, T0 + 499),
        "rule-2": Silenced(332, T0 + 2, T0 + 497),
    }


def test_silenced_counts_do_not_touch_the_windows(store: Store) -> None:
    store.count_silenced({"a": 5}, T0)
    assert store.hit("a", T0, W).alert  # a rule id is not a fingerprint
    assert store.claim_due(T0 + 2 * W) == []


def test_silenced_merged() -> None:
    one = Silenced(2, T0 + 1, T0 + 3)
    assert one.merged(Silenced(5, T0, T0 + 2)) == Silenced(7, T0, T0 + 3)
    with pytest.raises(AttributeError):
        one.count = 3  # type: ignore[misc]


# -- shared stores: one total for every handle ------------------------------------------------


def test_two_handles_see_one_total(pair: tuple[Store, Store]) -> None:
    one, two = pair
    one.count_silenced({"noisy": 3}, T0)
    two.count_silenced({"noisy": 4, "cron": 1}, T0 + 2)
    expected = {"noisy": Silenced(7, T0, T0 + 2), "cron": Silenced(1, T0 + 2, T0 + 2)}
    assert one.silenced() == expected
    assert two.silenced() == expected


def test_concurrent_adds_are_never_lost(pair: tuple[Store, Store]) -> None:
    barrier = threading.Barrier(2)

    def work(handle: Store) -> None:
        barrier.wait()
        for i in range(100):
            handle.count_silenced({"noisy": 1, "cron": 2}, T0 + i)

    threads = [threading.Thread(target=work, args=(handle,)) for handle in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pair[0].silenced() == {
        "noisy": Silenced(200, T0, T0 + 99),
        "cron": Silenced(400, T0, T0 + 99),
    }


# -- SQLite -------------------------------------------------------------------------------------


def test_sqlite_adds_the_whole_mapping_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        # every connection the store opens reports the statements it runs
        db = connect(*args, **kwargs)
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    store = SQLiteStore(str(tmp_path / "s.db"))
    statements.clear()  # opening: the schema
    store.count_silenced({f"rule-{i}": i + 1 for i in range(5)}, T0)
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    statements.clear()
    store.count_silenced({"zero": 0}, T0)  # nothing to add: no transaction at all
    assert statements == []
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT count(*) FROM silenced").fetchone()[0] == 5
    store.close()


def test_an_sqlite_file_of_an_earlier_version_gets_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteStore(str(path))
    assert store.hit("a", T0, W).alert
    store.close()
    with sqlite3.connect(path) as db:  # as a version before silenced counts left it
        db.execute("DROP TABLE silenced")
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "silenced" not in tables
    assert "windows" in tables
    again = SQLiteStore(str(path))
    assert again.silenced() == {}
    again.count_silenced({"noisy": 2}, T0 + 1)
    assert again.silenced() == {"noisy": Silenced(2, T0 + 1, T0 + 1)}
    assert not again.hit("a", T0 + 2, W).alert  # the old state is still there
    again.close()


def test_sqlite_survives_a_restart(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    store.count_silenced({"noisy": 2}, T0)
    store.close()
    again = SQLiteStore(str(tmp_path / "s.db"))
    assert again.silenced() == {"noisy": Silenced(2, T0, T0)}
    again.close()


def test_sqlite_forgets_a_rule_that_silenced_nothing_for_the_retention(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"), retention=3600.0)
    store.count_silenced({"removed": 5, "noisy": 1}, T0)
    store.count_silenced({"noisy": 1}, T0 + 3000)
    store.claim_due(T0 + 3700)  # the worker's claims sweep the file
    assert store.silenced() == {"noisy": Silenced(2, T0, T0 + 3000)}
    store.close()


# -- Redis --------------------------------------------------------------------------------------


def test_redis_adds_the_whole_mapping_in_one_round_trip(redis_url: str) -> None:
    store = RedisStore(redis_url, namespace=f"silenced-{next(_namespaces)}")
    store.count_silenced({"warm": 1}, T0)  # the script is loaded: EVALSHA from now on
    with commands_sent(redis_url) as sent:
        store.count_silenced({f"rule-{i}": i + 1 for i in range(20)}, T0)
    assert names(sent) == ["EVALSHA"]
    with commands_sent(redis_url) as sent:
        store.count_silenced({}, T0)
        store.count_silenced({"zero": 0}, T0)
    assert sent == []
    with commands_sent(redis_url) as sent:
        assert len(store.silenced()) == 21
    assert names(sent) == ["HGETALL"]
    store.close()


def test_redis_keys_share_the_hash_tag_expire_and_stay_small(redis_url: str) -> None:
    namespace = f"silenced-{next(_namespaces)}"
    store = RedisStore(redis_url, namespace=namespace, retention=3600)
    for i in range(200):
        store.count_silenced({"noisy": 1, "cron": 1}, T0 + i)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    tag = "{erralert:" + namespace + "}"
    keys = sorted(str(k) for k in client.keys("*" + namespace + "*"))
    assert keys == [f"{tag}:silenced", f"{tag}:silenced:seen"]
    assert client.hlen(f"{tag}:silenced") == 6  # count, first, last per rule
    assert client.zcard(f"{tag}:silenced:seen") == 2
    for key in keys:
        assert 3590 <= client.ttl(key) <= 3600, key
    assert len({key_slot(key.encode()) for key in keys}) == 1
    store.hit("a", T0, W)  # the windows' keys: the same slot
    assert len({key_slot(str(k).encode()) for k in client.keys("*" + namespace + "*")}) == 1
    client.close()
    store.close()


def test_redis_forgets_a_rule_that_silenced_nothing_for_the_retention(redis_url: str) -> None:
    namespace = f"silenced-{next(_namespaces)}"
    store = RedisStore(redis_url, namespace=namespace, retention=3600)
    store.count_silenced({"removed": 5, "noisy": 1}, T0)
    store.count_silenced({"noisy": 1}, T0 + 3000)
    assert set(store.silenced()) == {"removed", "noisy"}
    store.count_silenced({"noisy": 1}, T0 + 3700)
    assert store.silenced() == {"noisy": Silenced(3, T0, T0 + 3700)}
    client = redis.Redis.from_url(redis_url)
    assert client.zcard("{erralert:" + namespace + "}:silenced:seen") == 1
    client.close()
    store.close()


def test_services_sharing_a_redis_count_apart(redis_url: str) -> None:
    suffix = next(_namespaces)
    checkout = open_store(redis_url, service=f"checkout-{suffix}")
    search = open_store(redis_url, service=f"search-{suffix}")
    again = open_store(redis_url, service=f"checkout-{suffix}")
    pinned = open_store(f"{redis_url}?namespace=pinned-{suffix}", service=f"checkout-{suffix}")
    checkout.count_silenced({"noisy": 3}, T0)
    search.count_silenced({"noisy": 1}, T0 + 1)
    assert checkout.silenced() == {"noisy": Silenced(3, T0, T0)}
    assert again.silenced() == {"noisy": Silenced(3, T0, T0)}
    assert search.silenced() == {"noisy": Silenced(1, T0 + 1, T0 + 1)}
    assert pinned.silenced() == {}
    for store in (checkout, search, again, pinned):
        store.close()


def test_memory_stores_count_apart() -> None:
    one, two = MemoryStore(), MemoryStore()
    one.count_silenced({"noisy": 1}, T0)
    assert two.silenced() == {}


@contextmanager
def _redis_on(port: int) -> Iterator[str]:
    """A redis-server on a given port (to stop one and start another in its place)."""
    argv = [shutil.which("redis-server") or "redis-server", "--port", str(port)]
    argv += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with server_process(argv, port):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.mark.e2e
def test_redis_outage_keeps_the_counts_and_adds_them_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    namespace = f"silenced-{next(_namespaces)}"
    with _redis_on(port):
        store = RedisStore(url, namespace=namespace, retry_after=0.2, timeout=0.5)
        store.count_silenced({"noisy": 1}, T0)
        assert store.silenced() == {"noisy": Silenced(1, T0, T0)}
    # Redis is gone: the add that finds out, and those after it, wait here; none raises
    store.count_silenced({"noisy": 2, "cron": 1}, T0 + 1)
    store.count_silenced({"noisy": 3}, T0 + 2)
    time.sleep(0.3)
    store.count_silenced({"noisy": 4}, T0 + 3)  # retried, still down: still waiting
    assert [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    # the totals are unknown meanwhile: a read says so rather than answer a part of them
    with pytest.raises(redis.exceptions.ConnectionError):
        store.silenced()
    with _redis_on(port):  # a new, empty server on the same port
        # read before anything found Redis back: its totals and what waits here
        assert store.silenced() == {
            "noisy": Silenced(9, T0 + 1, T0 + 3),
            "cron": Silenced(1, T0 + 1, T0 + 1),
        }
        time.sleep(0.3)
        store.count_silenced({"noisy": 10}, T0 + 4)  # recovery adds the waiting ones first
        assert "reachable again" in caplog.records[-1].getMessage()
        other = RedisStore(url, namespace=namespace)  # another host sees them all
        assert other.silenced() == {
            "noisy": Silenced(19, T0 + 1, T0 + 4),
            "cron": Silenced(1, T0 + 1, T0 + 1),
        }
        assert store.silenced() == other.silenced()
        store.count_silenced({"cron": 1}, T0 + 5)  # nothing waits twice
        assert other.silenced()["cron"] == Silenced(2, T0 + 1, T0 + 5)
        other.close()
        store.close()


def test_redis_recovery_seen_by_another_call_adds_the_waiting_counts(redis_url: str) -> None:
    """Any call with a time may find Redis back (a hit, a claim): the waiting counts go in
    then, not only with the next add."""
    store = RedisStore(redis_url, namespace=f"silenced-{next(_namespaces)}", retry_after=0.1)
    store.outage.fail(redis.exceptions.ConnectionError("simulated"))
    store.count_silenced({"noisy": 2}, T0)
    assert store.outage.held_silenced() == {"noisy": Silenced(2, T0, T0)}
    time.sleep(0.15)
    store.claim_due(T0 + 1)
    assert store.outage.held_silenced() == {}
    assert store.silenced() == {"noisy": Silenced(2, T0, T0)}
    store.close()
