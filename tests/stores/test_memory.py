"""MemoryStore: the Store protocol over WindowSlot, bounded, one lock."""

from __future__ import annotations

import threading
import time
import tracemalloc
from typing import Any

import pytest
from freezegun import freeze_time

from erralert._core.errors import ConfigError
from erralert._core.event import Event
from erralert._stores.base import Due, Store
from erralert._stores.memory import MemoryStore

W = 60.0
T0 = 1_700_000_000.0


def _event(fingerprint: str) -> Event:
    return Event(
        event_id="0" * 32,
        timestamp=T0,
        level="error",
        title=f"ValueError: {fingerprint}",
        message=None,
        exceptions=(),
        culprit="app.views.index (app/views.py:42)",
        traceback="",
        request=None,
        service=None,
        environment=None,
        release=None,
        host="web-1",
        pid=1,
        fingerprint=fingerprint,
    )


def _summary(dues: list[Due]) -> list[tuple[str, int, float]]:
    return [(d.key, d.occurrences.count, d.occurrences.window_end) for d in dues]


def test_is_a_store() -> None:
    assert isinstance(MemoryStore(), Store)


def test_keys_are_independent() -> None:
    store = MemoryStore()
    assert store.hit("a", T0, W).alert
    assert store.hit("b", T0 + 1, W).alert
    assert not store.hit("a", T0 + 2, W).alert
    assert not store.hit("b", T0 + 3, W).alert
    assert not store.hit("b", T0 + 4, W).alert
    assert _summary(store.claim_due(T0 + W + 1)) == [("a", 1, T0 + W), ("b", 2, T0 + 1 + W)]
    assert len(store) == 2


def test_claim_due_hands_out_oldest_first_up_to_limit_and_each_once() -> None:
    store = MemoryStore()
    for i, key in enumerate(["c", "a", "b"]):  # windows end at T0+W, +W+1, +W+2
        store.hit(key, T0 + i, W)
        store.hit(key, T0 + i + 0.5, W)
    assert store.claim_due(T0 + W + 5, limit=0) == []
    first = store.claim_due(T0 + W + 5, limit=2)
    rest = store.claim_due(T0 + W + 5, limit=2)
    assert [d.key for d in first] == ["c", "a"]
    assert [d.key for d in rest] == ["b"]
    assert store.claim_due(T0 + 10 * W) == []


def test_a_digest_settled_by_a_hit_is_handed_out_by_claim_due() -> None:
    store = MemoryStore()
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    # the next hit lands in window 2: it settles window 1 on its way
    assert not store.hit("a", T0 + W + 1, W).alert
    assert store.next_due() == T0 + W  # already due
    assert _summary(store.claim_due(T0 + W + 1)) == [("a", 1, T0 + W)]
    assert store.next_due() == T0 + 2 * W  # window 2 holds a repeat
    assert _summary(store.claim_due(T0 + 2 * W)) == [("a", 1, T0 + 2 * W)]


def test_next_due_tracks_windows_with_repeats_only() -> None:
    store = MemoryStore()
    assert store.next_due() is None
    store.hit("a", T0, W)
    assert store.next_due() is None  # a window without repeats ends silently
    store.hit("b", T0 + 10, W)
    store.hit("b", T0 + 11, W)
    assert store.next_due() == T0 + 10 + W
    store.hit("a", T0 + 20, W)
    assert store.next_due() == T0 + W
    assert _summary(store.claim_due(T0 + W)) == [("a", 1, T0 + W)]
    assert store.next_due() == T0 + 10 + W
    assert _summary(store.drain(T0 + 30)) == [("b", 1, T0 + 30)]
    assert store.next_due() is None


def test_sample_rides_with_the_digest() -> None:
    store = MemoryStore()
    event = _event("a")
    store.hit("a", T0, W)
    store.put_sample("a", event)
    store.put_sample("unknown", _event("unknown"))  # no such key: ignored
    store.hit("a", T0 + 1, W)
    (due,) = store.claim_due(T0 + W)
    assert due.sample is event
    assert len(store) == 1


def test_drain_includes_unclaimed_digests_and_closes_windows() -> None:
    store = MemoryStore()
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    store.hit("b", T0 + 2, W)
    store.hit("b", T0 + W + 1, W)  # a repeat in b's window [T0+2, T0+W+2)
    # a's window ended at T0+W, unclaimed; b's window is open with 1 repeat
    dues = store.drain(T0 + W + 1.5)
    assert _summary(dues) == [("a", 1, T0 + W), ("b", 1, T0 + W + 1.5)]
    assert store.drain(T0 + W + 1.6) == []
    assert store.claim_due(T0 + 10 * W) == []
    hit = store.hit("b", T0 + W + 1.7, W)  # b's window was closed by the drain
    assert (hit.alert, hit.occurrences.is_new, hit.occurrences.total) == (True, False, 3)


def test_eviction_of_the_least_recently_seen_keeps_its_repeats() -> None:
    store = MemoryStore(max_keys=2)
    a = _event("a")
    store.hit("a", T0, W)
    store.put_sample("a", a)
    store.hit("a", T0 + 1, W)
    store.hit("a", T0 + 2, W)
    store.hit("b", T0 + 3, W)
    store.hit("a", T0 + 4, W)  # a is now the most recently seen: b goes first
    store.hit("c", T0 + 5, W)
    assert len(store) == 2
    assert store.claim_due(T0 + 6) == []  # b had no repeats: nothing lost, nothing due
    store.hit("d", T0 + 7, W)  # evicts a, whose window holds 3 repeats
    assert store.next_due() == T0 + 7
    (due,) = store.claim_due(T0 + 8)  # made due at once, handed out by the next claim
    assert _summary([due]) == [("a", 3, T0 + 7)]
    assert (due.occurrences.total, due.occurrences.window_start) == (4, T0)
    assert due.sample is a
    assert store.claim_due(T0 + 10 * W) == []
    # a is forgotten: its next occurrence is news again
    hit = store.hit("a", T0 + 9, W)
    assert (hit.alert, hit.occurrences.is_new, hit.occurrences.total) == (True, True, 1)


def test_eviction_of_an_ended_window_digests_it_with_its_real_end() -> None:
    store = MemoryStore(max_keys=1)
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    store.hit("b", T0 + 2 * W, W)  # a's window ended long ago, unclaimed
    assert _summary(store.claim_due(T0 + 2 * W)) == [("a", 1, T0 + W)]


def test_bounded_under_many_keys() -> None:
    store = MemoryStore(max_keys=100)
    for i in range(1000):
        store.hit(f"k{i}", T0 + i * 0.01, W)
        store.hit(f"k{i}", T0 + i * 0.01, W)
    assert len(store) == 100
    dues = store.claim_due(T0 + 2 * W, limit=10_000)
    assert len(dues) == 1000
    assert sum(d.occurrences.count for d in dues) == 1000
    assert len({d.key for d in dues}) == 1000


def test_same_key_from_many_threads_alerts_exactly_once() -> None:
    store = MemoryStore()
    threads, per_thread = 8, 2_000
    alerts: list[int] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        mine = 0
        for _ in range(per_thread):
            mine += store.hit("fp", T0 + 1, W).alert
        alerts.append(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert sum(alerts) == 1
    (due,) = store.claim_due(T0 + W + 1)
    assert due.occurrences.count == threads * per_thread - 1
    assert due.occurrences.total == threads * per_thread


def test_claims_from_many_threads_hand_each_digest_out_once() -> None:
    store = MemoryStore()
    for i in range(500):
        store.hit(f"k{i}", T0, W)
        store.hit(f"k{i}", T0 + 1, W)
    claimed: list[Due] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            got = store.claim_due(T0 + W, limit=7)
            with lock:
                claimed.extend(got)

    pool = [threading.Thread(target=worker) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert sorted(d.key for d in claimed) == sorted(f"k{i}" for i in range(500))


def test_with_freezegun() -> None:
    with freeze_time("2024-05-01 12:00:00") as frozen:
        store = MemoryStore()
        start = time.time()
        assert store.hit("fp", time.time(), W).alert
        frozen.tick(10)
        assert not store.hit("fp", time.time(), W).alert
        assert store.next_due() == start + W
        frozen.tick(50)
        (due,) = store.claim_due(time.time())
        assert (due.occurrences.count, due.occurrences.histogram[1]) == (1, 1)


@pytest.mark.parametrize(
    ("url", "max_keys"),
    [("memory://", 10_000), ("memory://?max_keys=500", 500), ("MEMORY:///?max_keys=1", 1)],
)
def test_from_url(url: str, max_keys: int) -> None:
    assert MemoryStore.from_url(url).max_keys == max_keys


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://localhost", "not a memory store"),
        ("memory://somehost", "no host or path"),
        ("memory://?size=5", "unknown option 'size'"),
        ("memory://?max_keys=lots", "must be an integer"),
        ("memory://?max_keys=0", "at least 1"),
    ],
)
def test_from_url_refuses(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        MemoryStore.from_url(url)


def test_max_keys_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        MemoryStore(max_keys=0)


def test_memory_stays_bounded_when_many_keys_pass_through() -> None:
    """Every key gets a repeat (a deadline: its window's end) and is then evicted. What the
    store keeps must not grow with the keys that passed through: stale deadlines are
    purged. Measured as the memory the store's calls leave allocated (tracemalloc), so
    anything kept per key that has gone — a deadline, its key — shows."""
    store = MemoryStore(max_keys=100)
    claimed = 0

    def pass_through(first: int, count: int) -> None:
        nonlocal claimed
        for i in range(first, first + count):
            key, now = f"k{i}", T0 + i * 0.001
            store.hit(key, now, W)
            store.hit(key, now, W)
            if i % 100 == 99:
                # an evicted key's repeats are due at once: claimed as a worker would (no
                # window has ended yet, so this leaves every deadline in place)
                claimed += sum(d.occurrences.count for d in store.claim_due(now))

    tracemalloc.start()
    try:
        pass_through(0, 2_000)  # the store at its largest: 100 keys, a heap to purge
        before = tracemalloc.get_traced_memory()[0]
        pass_through(2_000, 12_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # a deadline kept per key is ~150 bytes with its key: 12 000 keys would be 2 MB
    assert grown < 500_000
    assert len(store) == 100
    dues = store.claim_due(T0 + 2 * W, limit=100_000)
    claimed += sum(d.occurrences.count for d in dues)
    assert claimed == 14_000  # nothing lost on the way


def test_a_store_object_missing_methods_is_refused_naming_them() -> None:
    from erralert._stores import open_store

    class Older:
        """A store written against an earlier protocol: no silenced counts."""

    for name in dir(MemoryStore):
        if not name.startswith("_") and name not in ("count_silenced", "silenced"):
            setattr(Older, name, getattr(MemoryStore, name))
    with pytest.raises(ConfigError, match=r"got Older \(it lacks count_silenced, silenced\)"):
        open_store(Older())


@pytest.mark.parametrize(
    ("method", "parameter"), [("hit", "release"), ("claim_storm", "followups")]
)
def test_a_store_object_without_a_newer_parameter_is_refused_naming_it(
    method: str, parameter: str
) -> None:
    """A store whose methods predate a parameter erralert passes would fail on every capture
    or claim: it is refused at start-up instead, saying which."""
    from erralert._stores import open_store

    class Older(MemoryStore):
        pass

    def older(self: MemoryStore, *args: object) -> object:  # the earlier positional form
        return getattr(MemoryStore, method)(self, *args)

    setattr(Older, method, older)
    with pytest.raises(ConfigError, match=rf"Older\.{method}\(\) takes no {parameter}= argument"):
        open_store(Older())
    open_store(MemoryStore())  # today's store passes


def test_a_store_object_taking_keyword_arguments_passes() -> None:
    from erralert._stores import open_store

    class Wrapped(MemoryStore):
        def hit(self, *args: Any, **kwargs: Any) -> Any:
            return super().hit(*args, **kwargs)

    store = Wrapped()
    assert open_store(store) is store
