"""Throttle's batching over a shared store: repeats of a window the store said is open are
counted in the process and folded in, so a storm costs a round trip a second instead of
one per repeat — and chat receives exactly what it would without batching."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from erralert._core.event import Event
from erralert._grouping.throttle import Throttle
from erralert._stores.base import Batch, Due, Hit, Store
from erralert._stores.memory import MemoryStore
from erralert._stores.sqlite import SQLiteStore

W = 60.0
T0 = 1_700_000_000.0


class Counting:
    """A store proxy that counts the round trips a shared store would cost."""

    shared = True

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.hits = 0
        self.folds: list[list[Batch]] = []
        self.fail_folds = 0

    def hit(self, key: str, now: float, window: float, release: str | None = None) -> Hit:
        self.hits += 1
        return self.inner.hit(key, now, window, release)

    def fold(self, batches: Sequence[Batch], now: float) -> None:
        if self.fail_folds:
            self.fail_folds -= 1
            raise OSError("disk full")
        self.folds.append(list(batches))
        self.inner.fold(batches, now)

    def put_sample(self, key: str, sample: Event) -> None:
        self.inner.put_sample(key, sample)

    def claim_due(self, now: float, limit: int = 1000) -> list[Due]:
        return self.inner.claim_due(now, limit)

    def drain(self, now: float) -> list[Due]:
        return self.inner.drain(now)

    def next_due(self) -> float | None:
        return self.inner.next_due()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sqlite(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(str(tmp_path / "batch.db"))


def test_a_storm_of_repeats_costs_a_round_trip_a_second(sqlite: SQLiteStore) -> None:
    store = Counting(sqlite)
    throttle = Throttle(store, W)
    hits = [throttle.hit("a", T0 + i * 0.01) for i in range(3000)]  # 30 s, 100 per second
    assert [h.alert for h in hits].count(True) == 1
    # the alert asks the store, which says until when the window is open; every repeat
    # is counted here and folded in
    assert store.hits == 1
    assert 25 <= len(store.folds) <= 31  # about one per second of storm
    (due,) = throttle.due(T0 + W + throttle.guard)
    occ = due.occurrences
    assert (occ.count, occ.total) == (2999, 3000)
    assert (occ.first_seen, occ.last_seen) == (T0 + 0.01, T0 + 2999 * 0.01)
    assert sum(occ.histogram) == 2999
    assert occ.histogram[5:] == (0, 0, 0, 0, 0)


def test_the_digest_equals_the_unbatched_one(sqlite: SQLiteStore) -> None:
    rng = random.Random(7)
    times = sorted(T0 + rng.uniform(0, 3 * W) for _ in range(2000))
    batched, plain = Throttle(sqlite, W), Throttle(MemoryStore(), W)
    alerts: tuple[list[float], list[float]] = ([], [])
    digests: tuple[list[Due], list[Due]] = ([], [])
    tick = T0
    for t in times:
        while tick + 1 <= t:  # the worker's 1 s tick
            tick += 1
            for throttle, out in zip((batched, plain), digests, strict=True):
                out.extend(throttle.due(tick))
        for throttle, alerted in zip((batched, plain), alerts, strict=True):
            if throttle.hit("a", t).alert:
                alerted.append(t)
    end = T0 + 10 * W
    for throttle, out in zip((batched, plain), digests, strict=True):
        out.extend(throttle.due(end))
    assert alerts[0] == alerts[1]
    assert [d.occurrences for d in digests[0]] == [d.occurrences for d in digests[1]]
    assert len(digests[0]) == 3


def test_local_counting_stops_a_guard_before_the_window_ends(sqlite: SQLiteStore) -> None:
    store = Counting(sqlite)
    throttle = Throttle(store, W)
    assert throttle.guard == 2.0
    throttle.hit("a", T0)
    assert store.hits == 1  # the alert: the store opened [T0, T0 + W)
    throttle.hit("a", T0 + 1)  # counted here
    throttle.hit("a", T0 + W - 2.5)  # counted here
    assert store.hits == 1
    throttle.hit("a", T0 + W - 1.5)  # within the guard: the store decides (and gets the tally)
    assert store.hits == 2
    assert sum(b.count for fold in store.folds for b in fold) == 2
    assert throttle.due(T0 + W) == []  # claims lag the guard behind
    (due,) = throttle.due(T0 + W + 2)
    assert due.occurrences.count == 3


def test_short_windows_shrink_the_guard() -> None:
    throttle = Throttle(Counting(MemoryStore()), 1.0)
    assert throttle.guard == 0.5
    assert Throttle(MemoryStore(), 1.0).guard == 0.0  # nothing to batch in memory


def test_due_and_drain_fold_first(sqlite: SQLiteStore) -> None:
    store = Counting(sqlite)
    throttle = Throttle(store, W)
    for i in range(5):
        throttle.hit("a", T0 + i * 0.1)
    assert store.folds == []  # not yet a second of counting
    throttle.drain(T0 + 0.5)  # shutdown: the counts go to the store for the others
    assert [b.count for b in store.folds[0]] == [4]
    (due,) = Throttle(sqlite, W).due(T0 + W + 2)  # "another process" claims them
    assert due.occurrences.count == 4


def test_a_failed_fold_keeps_its_counts_for_the_next(sqlite: SQLiteStore) -> None:
    store = Counting(sqlite)
    throttle = Throttle(store, W)
    for i in range(4):
        throttle.hit("a", T0 + i * 0.1)
    store.fail_folds = 1
    with pytest.raises(OSError):
        throttle.fold(T0 + 1)
    throttle.hit("a", T0 + 2)
    throttle.fold(T0 + 3)
    (due,) = throttle.due(T0 + W + 2)
    assert due.occurrences.count == 4


def test_processes_sharing_a_store_count_every_repeat(sqlite: SQLiteStore, tmp_path: Path) -> None:
    # three "processes" (each its own throttle and connection) on one file
    throttles = [Throttle(SQLiteStore(str(tmp_path / "batch.db")), W) for _ in range(3)]
    rng = random.Random(3)
    alerts = 0
    dues: list[Due] = []
    for i in range(3000):
        t = T0 + i * 0.01
        alerts += rng.choice(throttles).hit("a", t).alert
        if i % 100 == 0:  # each process's worker ticks every second
            dues += [d for throttle in throttles for d in throttle.due(t)]
    assert alerts == 1
    for second in range(31, 63):  # the storm is over; the workers go on ticking
        dues += [d for throttle in throttles for d in throttle.due(T0 + second)]
    assert [d.occurrences.count for d in dues] == [2999]


def test_many_fingerprints_fold_in_one_call(sqlite: SQLiteStore) -> None:
    store = Counting(sqlite)
    throttle = Throttle(store, W)
    for key in "abcdef":
        throttle.hit(key, T0)
        throttle.hit(key, T0 + 0.1)
    for i in range(60):
        for key in "abcdef":
            throttle.hit(key, T0 + 0.2 + i * 0.01)
    throttle.fold(T0 + 1)
    assert sorted(b.key for b in store.folds[-1]) == list("abcdef")
    assert {d.key: d.occurrences.count for d in throttle.due(T0 + W + 2)} == dict.fromkeys(
        "abcdef", 61
    )
