"""A fingerprint's history in every store: the status of an alert (new, new in this
release, regression, recurring), since / previous / total and the releases, kept through
repeats and folded batches, forgotten with the window state; SQLite files and Redis keys
left by the previous version keep working."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from freezegun import freeze_time

import erralert
from erralert._core.notice import Notice, Occurrences, document, from_document
from erralert._grouping.throttle import Throttle
from erralert._stores.base import Batch, Store
from erralert._stores.history import History, status_of
from erralert._stores.memory import MemoryStore
from erralert._stores.redis import RedisStore
from erralert._stores.sqlite import SQLiteStore
from erralert._stores.windows import BUCKETS
from erralert.testing import capture_alerts
from tests.samples import event

W = 60.0
T0 = 1_700_000_000.0
OLD, NEW = "1.4.2", "1.4.3"


def _batch(key: str, start: float, count: int, first: float, last: float, release: str) -> Batch:
    histogram = [0] * BUCKETS
    histogram[0] = count
    return Batch(key, start, start + W, count, first, last, tuple(histogram), release=release)


# -- the rule -------------------------------------------------------------------------------


def _history(first: str | None, last: str | None) -> History:
    return History(first_seen=T0, last_seen=T0 + 5, total=3, first_release=first, last_release=last)


@pytest.mark.parametrize(
    ("history", "release", "status"),
    [
        (None, NEW, "new"),
        (None, None, "new"),
        (_history(NEW, NEW), NEW, "new_in_release"),
        # first seen under this release: still new in it, whatever ran in between
        (_history(NEW, OLD), NEW, "new_in_release"),
        (_history(OLD, OLD), NEW, "regression"),
        (_history(None, OLD), NEW, "regression"),  # first seen before releases were known
        (_history(OLD, NEW), NEW, "recurring"),  # seen under this release already
        (_history(OLD, None), NEW, "recurring"),  # the last sighting's release is unknown
        (_history(None, None), NEW, "recurring"),
        (_history(OLD, OLD), None, "recurring"),  # no release: nothing to compare
        (_history(None, None), None, "recurring"),
    ],
)
def test_status_of(history: History | None, release: str | None, status: str) -> None:
    assert status_of(history, release) == status


# -- every store ----------------------------------------------------------------------------


def test_a_fingerprint_never_seen_is_new(store: Store) -> None:
    occ = store.hit("a", T0, W, release=NEW).occurrences
    assert (occ.status, occ.is_new, occ.total) == ("new", True, 1)
    assert (occ.since, occ.previous) == (T0, None)
    assert (occ.first_release, occ.last_release) == (NEW, None)


def test_first_seen_under_this_release_is_new_in_release(store: Store) -> None:
    assert store.hit("a", T0, W, release=NEW).alert
    # the window closes silently; the next occurrence is alerted again
    occ = store.hit("a", T0 + 2 * W, W, release=NEW).occurrences
    assert (occ.status, occ.is_new, occ.total) == ("new_in_release", False, 2)
    assert (occ.since, occ.previous) == (T0, T0)
    assert (occ.first_release, occ.last_release) == (NEW, NEW)


def test_seen_under_an_earlier_release_and_quiet_since_is_a_regression(store: Store) -> None:
    assert store.hit("a", T0, W, release=OLD).alert
    assert not store.hit("a", T0 + 7, W, release=OLD).alert
    occ = store.hit("a", T0 + 3 * W, W, release=NEW).occurrences
    assert (occ.status, occ.total) == ("regression", 3)
    assert (occ.since, occ.previous) == (T0, T0 + 7)
    assert (occ.first_release, occ.last_release) == (OLD, OLD)


def test_without_a_release_a_known_error_is_recurring(store: Store) -> None:
    assert store.hit("a", T0, W).occurrences.status == "new"
    occ = store.hit("a", T0 + 2 * W, W).occurrences
    assert (occ.status, occ.total, occ.since, occ.previous) == ("recurring", 2, T0, T0)
    assert (occ.first_release, occ.last_release) == (None, None)


def test_seen_under_this_release_already_is_recurring(store: Store) -> None:
    assert store.hit("a", T0, W, release=OLD).alert
    assert store.hit("a", T0 + 2 * W, W, release=NEW).occurrences.status == "regression"
    assert not store.hit("a", T0 + 2 * W + 5, W, release=NEW).alert  # a repeat
    assert len(store.claim_due(T0 + 3 * W)) == 1
    occ = store.hit("a", T0 + 5 * W, W, release=NEW).occurrences
    assert (occ.status, occ.total) == ("recurring", 4)
    assert (occ.since, occ.previous) == (T0, T0 + 2 * W + 5)
    assert (occ.first_release, occ.last_release) == (OLD, NEW)


def test_a_digest_carries_since_and_the_releases(store: Store) -> None:
    store.hit("a", T0, W, release=OLD)
    store.hit("a", T0 + 5, W, release=NEW)
    (due,) = store.claim_due(T0 + W)
    occ = due.occurrences
    assert (occ.status, occ.count, occ.total, occ.since) == ("recurring", 1, 2, T0)
    assert (occ.first_release, occ.last_release, occ.previous) == (OLD, NEW, None)


def test_repeats_folded_from_another_process_update_the_latest_sighting(store: Store) -> None:
    assert store.hit("a", T0, W, release=OLD).alert
    # another process, already on the new release, counted repeats of this window
    store.fold([_batch("a", T0, 3, T0 + 1, T0 + 20, release=NEW)], T0 + 21)
    # a batch folded late whose repeats are older than those does not replace them
    store.fold([_batch("a", T0, 2, T0 + 2, T0 + 10, release=OLD)], T0 + 22)
    (due,) = store.claim_due(T0 + W)
    assert (due.occurrences.count, due.occurrences.last_release) == (5, NEW)
    occ = store.hit("a", T0 + 3 * W, W, release=NEW).occurrences
    assert (occ.status, occ.total, occ.previous) == ("recurring", 7, T0 + 20)
    assert (occ.since, occ.first_release, occ.last_release) == (T0, OLD, NEW)


def test_a_batch_of_a_fingerprint_never_seen_starts_its_history(store: Store) -> None:
    # folded after the store forgot the fingerprint: a digest of its own, and a history
    store.fold([_batch("a", T0, 4, T0 + 1, T0 + 9, release=OLD)], T0 + W + 1)
    (due,) = store.claim_due(T0 + W + 1)
    assert (due.occurrences.count, due.occurrences.since) == (4, T0 + 1)
    occ = store.hit("a", T0 + 3 * W, W, release=NEW).occurrences
    assert (occ.status, occ.total, occ.since, occ.previous) == ("regression", 5, T0 + 1, T0 + 9)


def test_a_clock_behind_does_not_move_the_latest_sighting_back(store: Store) -> None:
    assert store.hit("a", T0 + 10, W, release=NEW).alert
    assert not store.hit("a", T0 + 30, W, release=NEW).alert
    assert not store.hit("a", T0 + 5, W, release=OLD).alert  # a host whose clock is behind
    store.claim_due(T0 + 10 + W)
    occ = store.hit("a", T0 + 3 * W, W, release=NEW).occurrences
    assert (occ.status, occ.since, occ.previous) == ("new_in_release", T0 + 5, T0 + 30)
    assert occ.last_release == NEW


# -- Throttle and Alerter pass the release on -----------------------------------------------


def test_the_memory_throttle_passes_its_release() -> None:
    throttle = Throttle(MemoryStore(), W, release=NEW)
    assert throttle.release == NEW
    assert throttle.hit("a", T0).occurrences.first_release == NEW
    assert not throttle.hit("a", T0 + 1).alert
    (due,) = throttle.due(T0 + W)
    assert due.occurrences.last_release == NEW


@pytest.fixture(params=["sqlite", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Store]]:
    """Three stores on one shared state: three processes (or hosts)."""
    if request.param == "sqlite":
        made: list[Store] = [SQLiteStore(str(tmp_path / "h.db")) for _ in range(3)]
    else:
        url = request.getfixturevalue("redis_url")
        namespace = f"history-{request.node.name}"
        made = [RedisStore(url, namespace=namespace) for _ in range(3)]
    yield made
    for store in made:
        store.close()


def test_batches_counted_by_throttles_carry_their_release(shared: list[Store]) -> None:
    old = Throttle(shared[0], W, release=OLD)
    new = Throttle(shared[1], W, release=NEW)
    assert old.hit("a", T0).occurrences.status == "new"
    assert not new.hit("a", T0 + 1).alert  # asks the store: the window is open
    assert not old.hit("a", T0 + 2).alert  # counted in its process
    for t in range(3, 11):
        assert not new.hit("a", T0 + t).alert  # counted in its process
    new.fold(T0 + 11)
    old.fold(T0 + 12)  # the older repeat, folded last
    (due,) = new.due(T0 + W + new.guard)
    assert (due.occurrences.count, due.occurrences.last_release) == (10, NEW)
    later = Throttle(shared[2], W, release=NEW)
    occ = later.hit("a", T0 + 3 * W).occurrences
    assert (occ.status, occ.total, occ.previous) == ("recurring", 12, T0 + 10)
    assert (occ.since, occ.first_release, occ.last_release) == (T0, OLD, NEW)


def fail() -> None:
    raise KeyError("order 1042 not found")


def _capture(alerter: erralert.Alerter) -> None:
    try:
        fail()
    except KeyError as exc:
        alerter.capture_exception(exc)


def test_the_alerter_reports_a_regression_after_a_deploy(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'alerts.db'}"
    slack = "slack://T000/B000/XXXXXXXX"
    with freeze_time("2026-01-01 00:00:00") as frozen, capture_alerts() as alerts:
        before = erralert.Alerter([slack], window=60, store=store, release=OLD)
        _capture(before)
        before.close(0.1)
        frozen.move_to("2026-01-01 01:00:00")  # deployed; quiet since
        after = erralert.Alerter([slack], window=60, store=store, release=NEW)
        _capture(after)
        after.close(0.1)
    assert [a.notice.occurrences.status for a in alerts] == ["new", "regression"]
    occ = alerts[1].notice.occurrences
    assert (occ.first_release, occ.last_release, occ.total) == (OLD, OLD, 2)
    assert occ.previous == occ.since == alerts[0].notice.created_at


# -- forgotten with the window state ----------------------------------------------------------


def test_memory_forgets_the_history_of_an_evicted_fingerprint() -> None:
    store = MemoryStore(max_keys=1)
    store.hit("a", T0, W, release=OLD)
    store.hit("b", T0 + 1, W, release=OLD)  # evicts "a"
    occ = store.hit("a", T0 + 2, W, release=NEW).occurrences
    assert (occ.status, occ.total, occ.since, occ.first_release) == ("new", 1, T0 + 2, NEW)


def test_sqlite_forgets_the_history_after_retention(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "r.db"), retention=3600)
    store.hit("a", T0, W, release=OLD)
    store.hit("b", T0 + 3000, W, release=OLD)
    store.claim_due(T0 + 3601)  # sweeps what was not seen for an hour
    occ = store.hit("a", T0 + 3602, W, release=NEW).occurrences
    assert (occ.status, occ.total, occ.since, occ.first_release) == ("new", 1, T0 + 3602, NEW)
    kept = store.hit("b", T0 + 3603, W, release=NEW).occurrences
    assert (kept.status, kept.total, kept.previous) == ("regression", 2, T0 + 3000)
    store.close()


def test_redis_forgets_the_history_after_retention(redis_url: str) -> None:
    store = RedisStore(redis_url, namespace="history-retention", retention=0.2)
    store.hit("a", T0, W, release=OLD)
    time.sleep(0.3)  # Redis expires keys on its own clock
    occ = store.hit("a", T0 + 1, W, release=NEW).occurrences
    assert (occ.status, occ.total, occ.since, occ.first_release) == ("new", 1, T0 + 1, NEW)
    store.close()


# -- state left by the previous version -------------------------------------------------------

# the two tables as the previous version made them
_OLD_SCHEMA = (
    """CREATE TABLE windows (
        key TEXT PRIMARY KEY,
        window REAL NOT NULL,
        window_start REAL NOT NULL,
        window_end REAL NOT NULL,
        count INTEGER NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        total INTEGER NOT NULL,
        histogram TEXT NOT NULL,
        sample TEXT,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE dues (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        window_end REAL NOT NULL,
        occurrences TEXT NOT NULL,
        sample TEXT
    )""",
)
_OLD_OCCURRENCE_KEYS = {
    "count",
    "total",
    "first_seen",
    "last_seen",
    "window",
    "is_new",
    "window_start",
    "window_end",
    "histogram",
}


def test_a_sqlite_file_of_the_previous_version_keeps_working(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    old = sqlite3.connect(path)
    for statement in _OLD_SCHEMA:
        old.execute(statement)
    histogram = json.dumps([1, 1] + [0] * (BUCKETS - 2))
    old.execute(
        "INSERT INTO windows VALUES ('a', ?, ?, ?, 2, ?, ?, 3, ?, NULL, ?)",
        (W, T0, T0 + W, T0 + 1, T0 + 7, histogram, T0 + 7),
    )
    digest = dict.fromkeys(_OLD_OCCURRENCE_KEYS, 0)
    digest.update(count=4, total=9, window=W, is_new=False, window_end=T0, histogram=[4] + [0] * 9)
    old.execute("INSERT INTO dues VALUES (1, 'b', ?, ?, NULL)", (T0, json.dumps(digest)))
    old.commit()
    old.close()

    store = SQLiteStore(path)
    # the digest it filed, and the window it kept, come out with their history unknown
    b, a = store.claim_due(T0 + W)
    assert (b.key, b.occurrences.count, b.occurrences.status) == ("b", 4, "recurring")
    assert (b.occurrences.since, b.occurrences.first_release) == (0.0, None)
    assert (a.key, a.occurrences.count, a.occurrences.since) == ("a", 2, 0.0)
    # its latest hit stands in for the last sighting
    occ = store.hit("a", T0 + 3 * W, W, release=NEW).occurrences
    assert (occ.status, occ.is_new, occ.total) == ("recurring", False, 4)
    assert (occ.since, occ.previous, occ.first_release, occ.last_release) == (
        0.0,
        T0 + 7,
        None,
        None,
    )
    # the previous version, still running beside this one, reads and writes the file
    store.hit("a", T0 + 3 * W + 1, W, release=NEW)
    store.hit("a", T0 + 4 * W + 1, W, release=NEW)  # settles: a digest is filed
    db = sqlite3.connect(path)
    ((occurrences,),) = db.execute("SELECT occurrences FROM dues").fetchall()
    assert set(json.loads(occurrences)) == _OLD_OCCURRENCE_KEYS
    db.execute(
        "INSERT INTO windows (window, window_start, window_end, count, first_seen, last_seen,"
        " total, histogram, updated_at, key) VALUES (?, ?, ?, 0, 0, 0, 1, ?, ?, 'c')",
        (W, T0, T0 + W, json.dumps([0] * BUCKETS), T0),
    )
    db.commit()
    db.close()
    occ = store.hit("c", T0 + 2 * W, W, release=NEW).occurrences
    assert (occ.status, occ.total, occ.since, occ.previous) == ("recurring", 2, 0.0, T0)
    store.close()
    # opening it again adds nothing twice
    SQLiteStore(path).close()


def test_redis_keys_of_the_previous_version_keep_working(redis_url: str) -> None:
    store = RedisStore(redis_url, namespace="history-old")
    client = redis.Redis.from_url(redis_url)
    tag = "{erralert:history-old}"
    store.hit("a", T0, W, release=OLD)
    store.hit("a", T0 + 4, W, release=OLD)
    # as the previous version left them: no history in the hash
    client.hdel(f"{tag}:w:a", "since", "seen", "frel", "lrel")
    store.hit("a", T0 + W + 1, W, release=NEW)  # settles window 1: its digest is filed
    client.delete(f"{tag}:dueh")  # as if the previous version had filed it
    (due,) = store.claim_due(T0 + W + 1)
    assert (due.occurrences.count, due.occurrences.since, due.occurrences.last_release) == (
        1,
        0.0,
        None,
    )
    store.claim_due(T0 + 3 * W)
    occ = store.hit("a", T0 + 4 * W, W, release=NEW).occurrences
    assert (occ.status, occ.total, occ.since, occ.previous) == ("recurring", 4, 0.0, T0 + W + 1)
    assert (occ.first_release, occ.last_release) == (None, NEW)
    client.close()
    store.close()


def test_redis_drops_history_left_by_digests_the_previous_version_claimed(
    redis_url: str,
) -> None:
    store = RedisStore(redis_url, namespace="history-claimed")
    client = redis.Redis.from_url(redis_url)
    tag = "{erralert:history-claimed}"
    store.hit("a", T0, W, release=OLD)
    store.hit("a", T0 + 4, W, release=OLD)
    store.hit("a", T0 + W + 1, W, release=OLD)  # files window 1's digest
    # the previous version claims it: it knows nothing of its history
    (id_,) = client.zrange(f"{tag}:dueq", 0, -1)
    client.hdel(f"{tag}:dues", id_)
    client.zrem(f"{tag}:dueq", id_)
    assert client.hlen(f"{tag}:dueh") == 1
    assert store.claim_due(T0 + W + 2) == []
    assert not client.exists(f"{tag}:dueh")  # nothing due: nothing of it kept
    client.close()
    store.close()


# -- the document (generic webhook, spool) ---------------------------------------------------

HISTORY_KEYS = ("status", "since", "previous", "first_release", "last_release")


def _notice(occurrences: Occurrences) -> Notice:
    return Notice("alert", event(), occurrences, created_at=T0)


def test_the_document_carries_the_history_and_reads_back() -> None:
    occ = Occurrences(
        count=1,
        total=1204,
        first_seen=T0,
        last_seen=T0,
        window=W,
        is_new=False,
        window_start=T0,
        window_end=T0 + W,
        status="regression",
        since=T0 - 86_400,
        previous=T0 - 7200,
        first_release=OLD,
        last_release=OLD,
    )
    doc = document(_notice(occ))
    fields = doc["occurrences"]
    assert isinstance(fields, dict)
    assert {key: fields[key] for key in HISTORY_KEYS} == {
        "status": "regression",
        "since": T0 - 86_400,
        "previous": T0 - 7200,
        "first_release": OLD,
        "last_release": OLD,
    }
    back = from_document(json.loads(json.dumps(doc)), created_at=T0)
    assert back.occurrences == occ


@pytest.mark.parametrize(("is_new", "status"), [(True, "new"), (False, "recurring")])
def test_a_document_of_the_previous_version_reads_with_defaults(is_new: bool, status: str) -> None:
    occ = Occurrences(
        count=1, total=3, first_seen=T0, last_seen=T0, window=W, is_new=is_new, status="new"
    )
    doc = json.loads(json.dumps(document(_notice(occ))))
    for key in HISTORY_KEYS:
        del doc["occurrences"][key]
    back = from_document(doc, created_at=T0).occurrences
    assert (back.status, back.since, back.previous) == (status, 0.0, None)
    assert (back.first_release, back.last_release) == (None, None)
    assert (back.count, back.total, back.is_new) == (1, 3, is_new)
