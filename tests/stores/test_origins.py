"""Where a window's repeats came from (``erralert._stores.origins``): the rules of
``Origins`` and ``WindowSlot``, the source of a process (its own after a fork), the
throttle passing it on (and a store object written before ``source=`` still working), and
SQLite files and Redis keys of the previous version. Every store's answers are in
test_contract.py; the Lua against ``WindowSlot`` in test_redis.py."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import redis

from erralert._core.event_origin import hostname
from erralert._core.notice import document, from_document
from erralert._grouping.throttle import Throttle
from erralert._stores import open_store
from erralert._stores.base import Batch, Hit
from erralert._stores.memory import MemoryStore
from erralert._stores.origins import MAX_RELEASES, MAX_SOURCES, Origins, host_of, this_process
from erralert._stores.redis import RedisStore
from erralert._stores.sqlite import SQLiteStore
from erralert._stores.windows import BUCKETS, WindowSlot
from tests import samples

W = 60.0
T0 = 1_700_000_000.0
A, B, C = "101@web-1", "102@web-1", "7@web-2"


def _batch(start: float, count: int, source: str | None, release: str | None = None) -> Batch:
    histogram = (count,) + (0,) * (BUCKETS - 1)
    return Batch("k", start, start + W, count, start + 1, start + 2, histogram, release, source)


def _fleet(slot_digest: Any) -> tuple[int, int, tuple[str, ...]]:
    return slot_digest.hosts, slot_digest.processes, slot_digest.releases


# -- Origins -------------------------------------------------------------------------------


def test_a_source_names_the_process_and_its_host() -> None:
    assert this_process() == f"{os.getpid()}@{hostname()}"
    assert host_of("4242@web-1") == "web-1"
    assert host_of("4242@user@host") == "user@host"  # a pid has no @: the rest is the host
    assert host_of("4242@") == host_of("4242") == ""


def test_origins_count_each_process_host_and_release_once_first_seen_first() -> None:
    origins = Origins()
    assert origins.add(B, "1.4.3")
    assert origins.add(A, "1.4.2")
    assert not origins.add(B, "1.4.2")  # nothing new
    assert origins.add(C, None)
    assert not origins.add(None, None)
    assert not origins.add("", None)  # no source named
    assert (origins.processes, origins.hosts, origins.releases) == (
        [B, A, C],
        ["web-1", "web-2"],
        ["1.4.3", "1.4.2"],
    )
    assert origins.facts() == {
        "hosts": 2,
        "processes": 3,
        "releases": ("1.4.3", "1.4.2"),
        "more_hosts": False,
        "more_processes": False,
        "more_releases": False,
    }


def test_origins_are_bounded_and_say_there_were_more() -> None:
    origins = Origins()
    for pid in range(MAX_SOURCES + 10):
        origins.add(f"{pid}@host-{pid % 40}", f"r{pid % (MAX_RELEASES + 1)}")
    facts = origins.facts()
    assert (facts["processes"], facts["hosts"], len(facts["releases"])) == (64, 40, 8)
    assert (facts["more_processes"], facts["more_hosts"], facts["more_releases"]) == (
        True,
        False,
        True,
    )
    # a host first seen with a process beyond the bound still counts
    origins.add("9999@host-new", None)
    assert origins.facts()["hosts"] == 41


def test_stored_origins_belong_to_their_window_only() -> None:
    origins = Origins()
    assert origins.dump(T0) is None  # nothing to keep
    origins.add(A, "1.4.3")
    text = origins.dump(T0)
    assert text is not None
    back = Origins.load(text, T0)
    assert (back.processes, back.hosts, back.releases) == ([A], ["web-1"], ["1.4.3"])
    # kept for another window (left by an earlier version that opened this one): none
    assert Origins.load(text, T0 + W).facts()["processes"] == 0
    assert Origins.load(None, T0).facts()["processes"] == 0
    assert Origins.load("not json", T0).facts()["processes"] == 0
    assert Origins.load(json.dumps([1, 2]), T0).facts()["processes"] == 0


# -- WindowSlot ------------------------------------------------------------------------------


def test_a_slot_counts_the_origins_of_repeats_not_of_the_alert() -> None:
    slot = WindowSlot()
    hit, _ = slot.record(T0, W, "1.4.2", A)
    assert hit.alert
    assert _fleet(hit.occurrences) == (0, 0, ())  # an alert names its host itself
    slot.record(T0 + 1, W, "1.4.3", C)
    slot.record(T0 + 2, W, "1.4.3", C)
    digest = slot.settle(T0 + W)
    assert digest is not None
    assert _fleet(digest) == (1, 1, ("1.4.3",))
    assert slot.origins.facts()["processes"] == 0  # the next window starts empty


def test_a_slot_folds_the_origins_of_batches() -> None:
    slot = WindowSlot()
    slot.record(T0, W, None, A)
    assert slot.fold(_batch(T0, 3, B, "1.4.2"), T0 + 5) == []  # into its window
    assert slot.fold(_batch(T0 - W, 2, C, "1.4.3"), T0 + 6) == []  # late: the open window
    digest = slot.settle(T0 + W)
    assert digest is not None
    assert (digest.count, *_fleet(digest)) == (5, 2, 2, ("1.4.2", "1.4.3"))
    # late, and no window open: a digest of its own, of the batch's origins only
    (own,) = slot.fold(_batch(T0, 4, A, "1.4.1"), T0 + 5 * W)
    assert (own.count, *_fleet(own)) == (4, 1, 1, ("1.4.1",))


def test_a_cut_window_hands_over_its_origins_and_forgets_them() -> None:
    slot = WindowSlot()
    slot.record(T0, W, None, A)
    slot.record(T0 + 1, W, None, B)
    slot.record(T0 + 2, W, None, C)
    digest = slot.cut(T0 + 3)
    assert digest is not None
    assert _fleet(digest) == (2, 2, ())
    assert slot.origins.facts()["processes"] == 0


def test_the_frozen_state_keeps_the_origins() -> None:
    slot = WindowSlot()
    slot.record(T0, W, None, A)
    slot.record(T0 + 1, W, "1.4.3", C)
    state = slot.to_state()
    assert (state.sources, state.hosts, state.releases, state.more) == (
        (C,),
        ("web-2",),
        ("1.4.3",),
        "",
    )
    again = WindowSlot.from_state(state)
    again.record(T0 + 2, W, "1.4.3", B)
    digest = again.settle(T0 + W)
    assert digest is not None
    assert _fleet(digest) == (2, 2, ("1.4.3",))


# -- the process's source, through the throttle ---------------------------------------------


def _child_repeats(path: str, results: Any) -> None:
    # forked after the parent used its source: the child's must be its own
    throttle = Throttle(SQLiteStore(path), W, release="1.4.3")
    for i in range(5):
        throttle.hit("k", T0 + 2 + i)
    throttle.fold(T0 + 10)
    results.put(this_process())
    throttle.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_two_processes_on_one_file_make_a_digest_of_two_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "fleet.db")
    parent = Throttle(SQLiteStore(path), W, release="1.4.2")
    assert parent.hit("k", T0).alert
    assert not parent.hit("k", T0 + 1).alert  # a repeat: this process's source is made
    parent.fold(T0 + 1.5)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_child_repeats, args=(path, results))
    child.start()
    child_source = results.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert child_source == f"{child.pid}@{hostname()}" != this_process()
    (due,) = parent.due(T0 + W + parent.guard)
    assert (due.occurrences.count, *_fleet(due.occurrences)) == (6, 1, 2, ("1.4.2", "1.4.3"))
    parent.close()


class _EarlierStore(MemoryStore):
    """A store object written before ``source=`` existed."""

    def hit(  # type: ignore[override]
        self, key: str, now: float, window: float, release: str | None = None
    ) -> Hit:
        return super().hit(key, now, window, release)


def test_a_store_written_before_sources_still_works_without_them() -> None:
    store = open_store(_EarlierStore())  # not refused
    throttle = Throttle(store, W)
    assert throttle.hit("k", T0).alert
    assert not throttle.hit("k", T0 + 1).alert
    (due,) = throttle.due(T0 + W)
    assert (due.occurrences.count, *_fleet(due.occurrences)) == (1, 0, 0, ())


def test_the_memory_throttle_names_its_process() -> None:
    throttle = Throttle(MemoryStore(), W, release="1.4.3")
    throttle.hit("k", T0)
    throttle.hit("k", T0 + 1)
    (due,) = throttle.due(T0 + W)
    assert _fleet(due.occurrences) == (1, 1, ("1.4.3",))


# -- state left by the previous version -------------------------------------------------------


def test_a_sqlite_file_without_origins_gets_them_and_an_earlier_version_still_reads_it(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "old.db")
    store = SQLiteStore(path)
    store.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE windows DROP COLUMN origins")  # as the previous version made it
    db.commit()
    db.close()

    store = SQLiteStore(path)  # adds the column
    store.hit("k", T0, W, source=A)
    store.hit("k", T0 + 1, W, source=B)
    store.hit("k", T0 + 2, W, source=C)
    # the previous version, beside this one, reads the columns it knows and claims the
    # digest it files; its rows leave `origins` as they were
    db = sqlite3.connect(path)
    row = db.execute(
        "SELECT window, window_start, window_end, count, total, histogram, since, latest,"
        " first_release, last_release FROM windows WHERE key = 'k'"
    ).fetchone()
    assert row[3:5] == (2, 3)
    # it settles the window and opens the next (with its own repeat) without clearing them
    db.execute(
        "UPDATE windows SET window_start = ?, window_end = ?, count = 1, first_seen = ?,"
        " last_seen = ?, total = 4, histogram = ? WHERE key = 'k'",
        (T0 + W, T0 + 2 * W, T0 + W + 1, T0 + W + 1, json.dumps([1] + [0] * (BUCKETS - 1))),
    )
    db.commit()
    db.close()
    store.hit("k", T0 + W + 2, W, source=A)
    (due,) = store.claim_due(T0 + 2 * W)
    # the window's earlier origins were another window's: only this version's repeat counts
    assert (due.occurrences.count, *_fleet(due.occurrences)) == (2, 1, 1, ())
    store.close()


def test_redis_keys_without_origins_and_with_stale_ones_still_load(redis_url: str) -> None:
    store = RedisStore(redis_url, namespace="origins-old")
    client = redis.Redis.from_url(redis_url)
    tag = "{erralert:origins-old}"
    store.hit("k", T0, W, source=A)
    store.hit("k", T0 + 1, W, source=B)
    store.hit("k", T0 + 2, W, source=C)
    stale = client.hget(f"{tag}:w:k", "orig")
    assert stale is not None
    client.hdel(f"{tag}:w:k", "orig")  # as the previous version kept the window
    store.hit("k", T0 + W + 1, W, source=A)  # settles window 1: origins unknown
    # window 2 holding window 1's origins, as when the previous version opens a window
    # (it does not clear them): they are not taken for window 2's
    client.hset(f"{tag}:w:k", "orig", stale)
    store.hit("k", T0 + W + 2, W, source=B)
    client.delete(f"{tag}:dueh")  # window 1's digest, as if the previous version filed it
    first, second = store.claim_due(T0 + W + 2) + store.claim_due(T0 + 2 * W)
    assert (first.occurrences.count, *_fleet(first.occurrences)) == (2, 0, 0, ())
    assert (second.occurrences.count, *_fleet(second.occurrences)) == (2, 1, 1, ())
    client.close()
    store.close()


# -- the document (generic webhook, spool) ---------------------------------------------------


def test_the_document_carries_the_origins_when_known_and_reads_back() -> None:
    plain = samples.notice("digest")
    assert "processes" not in document(plain)["occurrences"]  # type: ignore[operator]
    assert from_document(document(plain)) == dataclasses.replace(plain, created_at=0.0)
    fleet = samples.fleet_digest(more_processes=True)
    fields = document(fleet)["occurrences"]
    assert isinstance(fields, dict)
    assert (fields["hosts"], fields["processes"], fields["releases"]) == (
        3,
        8,
        ["1.4.2", "1.4.3", "hotfix_*2*"],
    )
    assert (fields["more_hosts"], fields["more_processes"], fields["more_releases"]) == (
        False,
        True,
        False,
    )
    back = from_document(json.loads(json.dumps(document(fleet))))
    assert back.occurrences == fleet.occurrences
