"""SQLiteStore: exactly once across processes and threads, fork safety, URLs, retention.
The window semantics themselves are in test_contract.py (run against every store)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import erralert
from erralert._core.errors import ConfigError
from erralert._stores import open_store
from erralert._stores.base import Due, Store
from erralert._stores.sqlite import SQLiteStore
from erralert.testing import capture_alerts
from tests.samples import event

W = 60.0
T0 = 1_700_000_000.0
PROCESSES = 4
HITS = 250


def _rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


def _assert_nobody_holds_the_write_lock(path: Path) -> None:
    """Another connection takes the write lock at once: no transaction was left open (an
    open ``BEGIN IMMEDIATE`` holds that lock until it ends)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" while anyone holds it
        other.execute("ROLLBACK")
    finally:
        other.close()


# -- run in child processes (module level, so that "spawn" can import them) -----------------


def _hit_many(path: str, barrier: Any, results: Any) -> None:
    store = SQLiteStore(path)
    barrier.wait()
    alerts = sum(store.hit("same", T0 + i * 0.01, W).alert for i in range(HITS))
    results.put(("hits", alerts))
    barrier.wait()  # every process has hit: now all claim at once
    dues = store.claim_due(T0 + W + 1)
    results.put(("dues", [(d.key, d.occurrences.count) for d in dues]))
    store.close()


@pytest.mark.e2e
def test_processes_alert_exactly_once_and_claim_the_digest_once(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [ctx.Process(target=_hit_many, args=(path, barrier, results)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    got = [results.get(timeout=60) for _ in range(2 * PROCESSES)]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    alerts = [value for kind, value in got if kind == "hits"]
    dues = [due for kind, value in got if kind == "dues" for due in value]
    assert sum(alerts) == 1
    assert dues == [("same", PROCESSES * HITS - 1)]
    assert _rows(tmp_path / "shared.db", "dues") == 0


def test_threads_alert_exactly_once_and_claim_the_digest_once(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "threads.db"))
    barrier = threading.Barrier(8)
    alerts: list[bool] = []
    dues: list[Due] = []

    def work() -> None:
        barrier.wait()
        mine = [store.hit("same", T0 + i * 0.01, W).alert for i in range(100)]
        barrier.wait()
        claimed = store.claim_due(T0 + W)
        alerts.extend(mine)  # list.extend is atomic under the GIL
        dues.extend(claimed)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert alerts.count(True) == 1
    assert [(d.key, d.occurrences.count) for d in dues] == [("same", 799)]
    store.close()


def _in_child(store: SQLiteStore, results: Any) -> None:
    # the parent's connection came along with fork(); this must not use it
    hit = store.hit("child", T0 + 2, W)
    store.hit("shared", T0 + 3, W)
    results.put((hit.alert, [(d.key, d.occurrences.count) for d in store.claim_due(T0 + W)]))
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_store_used_before_fork_works_in_the_child(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "fork.db"))
    assert store.hit("shared", T0, W).alert
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    proc = ctx.Process(target=_in_child, args=(store, results))
    proc.start()
    alert, dues = results.get(timeout=30)
    proc.join(timeout=30)
    assert proc.exitcode == 0
    assert alert is True
    assert dues == [("shared", 1)]  # the child's repeat of the parent's window
    # the parent's connection survived the child closing its own
    assert not store.hit("child", T0 + 4, W).alert
    # the child opened "child"'s window at T0+2: it ends at T0+W+2
    assert store.claim_due(T0 + W + 1) == []
    assert [(d.key, d.occurrences.count) for d in store.claim_due(T0 + W + 2)] == [("child", 1)]
    store.close()


def test_two_stores_on_one_file_share_state(tmp_path: Path) -> None:
    one = SQLiteStore(str(tmp_path / "s.db"))
    two = SQLiteStore(str(tmp_path / "s.db"))
    assert one.hit("a", T0, W).alert
    assert not two.hit("a", T0 + 1, W).alert
    assert [d.occurrences.count for d in two.claim_due(T0 + W)] == [1]
    assert one.claim_due(T0 + W) == []
    assert one.drain(T0 + W) == []
    assert one.next_due() is None
    one.close()
    two.close()


def test_state_survives_a_restart(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    assert store.drain(T0 + 2) == []  # shared: the count stays in the file
    store.close()
    again = SQLiteStore(str(tmp_path / "s.db"))
    assert not again.hit("a", T0 + 3, W).alert
    assert [d.occurrences.count for d in again.claim_due(T0 + W)] == [2]
    again.close()


def test_a_closed_store_reopens_on_use(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    store.close()
    store.close()  # twice is fine
    assert store.hit("a", T0, W).alert
    store.close()


def test_sample_round_trip(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    sample = event()
    assert sample.exceptions
    assert sample.request is not None
    store.hit("a", T0, W)
    store.put_sample("a", sample)
    store.hit("a", T0 + 1, W)
    (due,) = store.claim_due(T0 + W)
    assert due.sample == sample
    assert due.sample is not sample
    store.close()


def test_a_sample_it_cannot_read_does_not_block_the_digest(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute('UPDATE windows SET sample = \'{"not": "an event"}\'')
    (due,) = store.claim_due(T0 + W)
    assert due.sample is None
    assert due.occurrences.count == 1
    store.close()


def test_the_sample_is_the_one_of_its_chain(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    store.hit("a", T0, W)
    store.put_sample("a", event("first"))
    store.hit("a", T0 + 1, W)
    store.hit("a", T0 + W + 1, W)  # settles window 1 on its way
    store.put_sample("a", event("second"))
    first, _ = store.claim_due(T0 + 2 * W)
    assert first.sample is not None
    assert first.sample.exceptions[-1].message == "first"
    store.close()


# -- retention ------------------------------------------------------------------------------


def test_retention_forgets_fingerprints_not_seen(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"), retention=3600.0)
    store.hit("old", T0, W)
    store.hit("busy", T0, W)
    store.hit("busy", T0 + 1, W)  # its digest is due at T0+W; claimed by no one yet
    store.hit("recent", T0 + 3000, W)
    later = T0 + 3700
    dues = store.claim_due(later)
    # the unsent digest is settled and handed out, never dropped
    assert [(d.key, d.occurrences.count) for d in dues] == [("busy", 1)]
    # "old" went; "busy" is kept until the next sweep (its window was still full)
    assert _rows(tmp_path / "s.db", "windows") == 2
    store.claim_due(later + 59)  # at most one sweep a minute
    assert _rows(tmp_path / "s.db", "windows") == 2
    store.claim_due(later + 60)
    assert _rows(tmp_path / "s.db", "windows") == 1
    # forgotten: the next occurrence is new again
    hit = store.hit("old", later + 61, W)
    assert hit.alert
    assert hit.occurrences.is_new
    assert hit.occurrences.total == 1
    store.close()


def test_retention_drops_digests_nobody_claimed(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"), retention=3600.0)
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    store.hit("a", T0 + W + 1, W)  # makes window 1's digest due; nobody claims it
    # the sweep drops window 1's stale digest, then window 2 is settled and handed out
    dues = store.claim_due(T0 + 2 * W + 7200)
    assert [(d.occurrences.count, d.occurrences.window_end) for d in dues] == [(1, T0 + 2 * W)]
    assert _rows(tmp_path / "s.db", "dues") == 0
    store.close()


# -- failures -------------------------------------------------------------------------------


def test_a_locked_database_raises_and_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(str(path), timeout=0.05)
    assert store.hit("a", T0, W).alert
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.hit("a", T0 + 1, W)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.claim_due(T0 + W)
    blocker.execute("ROLLBACK")
    blocker.close()
    _assert_nobody_holds_the_write_lock(path)
    assert not store.hit("a", T0 + 2, W).alert
    assert [d.occurrences.count for d in store.claim_due(T0 + W)] == [1]
    store.close()


def test_an_error_inside_a_transaction_rolls_it_back(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(str(path))
    with pytest.raises(ValueError, match="window"):
        store.hit("a", T0, float("nan"))
    _assert_nobody_holds_the_write_lock(path)
    assert store.hit("a", T0, W).occurrences.is_new
    store.close()


def test_a_path_it_cannot_open_fails_at_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no/such/dir"):
        SQLiteStore(str(tmp_path / "no/such/dir/s.db"))


# -- URLs -----------------------------------------------------------------------------------


def test_from_url_relative_absolute_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = SQLiteStore.from_url("sqlite:///rel.db")
    assert relative.path == "rel.db"
    assert (tmp_path / "rel.db").exists()
    absolute = SQLiteStore.from_url(f"sqlite:///{tmp_path}/abs.db?retention=3600&timeout=1.5")
    assert absolute.path == f"{tmp_path}/abs.db"
    assert (absolute.retention, absolute.timeout) == (3600.0, 1.5)
    assert relative.retention == 7 * 24 * 3600.0
    spaced = SQLiteStore.from_url("sqlite:///with%20space.db")
    assert (tmp_path / "with space.db").exists()
    store = open_store("SQLite:///via-open.db")
    assert isinstance(store, SQLiteStore)
    assert isinstance(store, Store)
    named = open_store("sqlite:///via-open.db", service="checkout")
    assert isinstance(named, SQLiteStore)
    assert named.namespace == "checkout"
    chosen = open_store("sqlite:///via-open.db?namespace=shop", service="checkout")
    assert isinstance(chosen, SQLiteStore)
    assert chosen.namespace == "shop"
    for made in (relative, absolute, spaced, store, named, chosen):
        made.close()


def test_a_service_claims_digests_an_earlier_version_left_without_namespace(
    tmp_path: Path,
) -> None:
    """Before namespaces a file held every key as it is: a service upgraded in the middle of
    a window still sends that window's digest — and never another service's."""
    path = str(tmp_path / "shared.db")
    earlier = SQLiteStore(path)  # keys as an earlier version stored them
    for i in range(4):
        earlier.hit("old", 100.0 + i, 60.0)
    billing = SQLiteStore(path, namespace="billing")
    billing.hit("mine", 100.0, 60.0)
    billing.hit("mine", 101.0, 60.0)
    checkout = SQLiteStore(path, namespace="checkout")
    claimed = checkout.claim_due(1000.0)
    assert [(d.key, d.occurrences.count) for d in claimed] == [("old", 3)]
    assert [(d.key, d.occurrences.count) for d in billing.claim_due(1000.0)] == [("mine", 1)]
    for made in (earlier, billing, checkout):
        made.close()


@pytest.mark.parametrize(
    ("url", "culprit"),
    [
        ("sqlite://", "sqlite://"),
        ("sqlite:///", "sqlite:///"),
        ("sqlite://host/x.db", "host"),
        ("sqlite:///:memory:", "memory://"),
        ("sqlite:///x.db?retention=soon", "soon"),
        ("sqlite:///x.db?retention=0", "retention"),
        ("sqlite:///x.db?retention=nan", "retention"),
        ("sqlite:///x.db?timeout=-1", "timeout"),
        ("sqlite:///x.db?max_keys=5", "max_keys"),
        ("memory:///x.db", "memory"),
        ("sqlite:///x.db?namespace=a%1Fb", "namespace"),
    ],
)
def test_bad_urls_fail_loudly(
    url: str, culprit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        SQLiteStore.from_url(url)
    assert culprit in str(info.value)
    assert not (tmp_path / "x.db").exists()  # validated before anything is created


# -- through the Alerter ----------------------------------------------------------------------


def test_alerter_end_to_end(tmp_path: Path) -> None:
    alerter = erralert.Alerter(["webhook+http://127.0.0.1:9/x"], window=60)
    other = erralert.Alerter(["webhook+http://127.0.0.1:9/x"], window=60)
    try:
        # while captured, both count in the SQLite store, as two processes sharing it do
        with capture_alerts(store=f"sqlite:///{tmp_path}/s.db") as alerts:
            for source in (alerter, other, alerter):
                try:
                    raise ValueError("boom")
                except ValueError:
                    source.capture_exception()
            assert [a.kind for a in alerts] == ["alert"]
            alerter.close(0.1)  # a shared store keeps the open window's counts
            assert [a.kind for a in alerts] == ["alert"]
        store = SQLiteStore(str(tmp_path / "s.db"))
        (due,) = store.claim_due(10.0**10)
        assert due.occurrences.count == 2
        assert due.sample is not None
        assert due.sample.title == "ValueError: boom"
        store.close()
    finally:
        alerter.close(0.1)
        other.close(0.1)
