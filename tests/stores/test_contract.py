"""The Store contract: every store answers the window semantics of ``erralert._stores.base``
the same way. Each test runs against every store factory below."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from erralert._core import pacing
from erralert._core.pacing import Rate
from erralert._stores.base import (
    MAX_STORM_GROUPS,
    OTHER_ERRORS,
    Batch,
    Due,
    Pile,
    Store,
    StormEntry,
)
from erralert._stores.memory import MemoryStore
from erralert._stores.redis import RedisStore
from erralert._stores.sqlite import SQLiteStore
from erralert._stores.windows import BUCKETS
from tests.samples import event
from tests.stores.redis_commands import forget_lanes

W = 60.0
T0 = 1_700_000_000.0

Factory = Callable[[pytest.FixtureRequest, Path], Store]
_namespaces = itertools.count()


def _redis(request: pytest.FixtureRequest, _: Path) -> Store:
    # one server for the module, a namespace of its own per test, and the channels' keys
    # (shared by every namespace, as a robot's budget is) removed: no state leaks between
    url: str = request.getfixturevalue("redis_url")
    store = RedisStore(url, namespace=f"contract-{next(_namespaces)}")
    forget_lanes(url)
    return store


def _cluster(request: pytest.FixtureRequest, _: Path) -> Store:
    # a real 3-node cluster: each namespace's keys live in its own slot, so the tests'
    # namespaces spread over the nodes
    url: str = request.getfixturevalue("redis_cluster_url")
    store = RedisStore.from_url(url, namespace=f"contract-{next(_namespaces)}")
    forget_lanes(url)
    return store


FACTORIES: dict[str, Factory] = {
    "memory": lambda _, __: MemoryStore(),
    "sqlite": lambda _, tmp: SQLiteStore(str(tmp / "contract.db")),
    "redis": _redis,
    "cluster": _cluster,
}


def _summary(dues: list[Due]) -> list[tuple[str, int, float]]:
    return [(d.key, d.occurrences.count, d.occurrences.window_end) for d in dues]


def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)


def test_hundred_hits_in_a_window_alert_once_and_digest_99_once(store: Store) -> None:
    hits = [store.hit("a", T0 + i * 0.5, W) for i in range(100)]
    assert [h.alert for h in hits] == [True] + [False] * 99
    first = hits[0].occurrences
    assert (first.count, first.total, first.is_new) == (1, 1, True)
    assert (first.window_start, first.window_end) == (T0, T0 + W)
    assert store.claim_due(T0 + W - 0.001) == []  # the window is still open
    (due,) = store.claim_due(T0 + W)
    occ = due.occurrences
    assert due.key == "a"
    assert (occ.count, occ.total, occ.is_new) == (99, 100, False)
    assert (occ.first_seen, occ.last_seen) == (T0 + 0.5, T0 + 49.5)
    assert (occ.window_start, occ.window_end, occ.window) == (T0, T0 + W, W)
    assert store.claim_due(T0 + W) == []  # exactly once
    assert store.claim_due(T0 + 10 * W) == []


def test_continuing_errors_give_one_digest_per_window(store: Store) -> None:
    assert store.hit("a", T0, W).alert
    dues: list[Due] = []
    # one occurrence every 10 s for three windows: no second alert, three digests
    for i in range(1, 18):
        assert not store.hit("a", T0 + i * 10, W).alert
        dues += store.claim_due(T0 + i * 10)
    dues += store.claim_due(T0 + 3 * W)
    assert _summary(dues) == [("a", 5, T0 + W), ("a", 6, T0 + 2 * W), ("a", 6, T0 + 3 * W)]
    assert [d.occurrences.total for d in dues] == [6, 12, 18]
    assert [d.occurrences.window_start for d in dues] == [T0, T0 + W, T0 + 2 * W]


def test_silence_closes_the_window_and_the_next_hit_is_a_fresh_alert(store: Store) -> None:
    assert store.hit("a", T0, W).alert
    assert store.claim_due(T0 + W) == []  # no repeats: nothing to report
    again = store.hit("a", T0 + 5 * W, W)
    assert again.alert
    occ = again.occurrences
    assert (occ.count, occ.total, occ.is_new) == (1, 2, False)
    assert (occ.window_start, occ.window_end) == (T0 + 5 * W, T0 + 6 * W)


def test_silence_after_a_digest_then_a_fresh_alert(store: Store) -> None:
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    assert _summary(store.claim_due(T0 + W)) == [("a", 1, T0 + W)]
    # the window after the digest ended empty: closed, so this is an alert again
    again = store.hit("a", T0 + 3 * W, W)
    assert again.alert
    assert (again.occurrences.total, again.occurrences.is_new) == (3, False)


def test_a_hit_after_the_window_settles_it_on_the_way(store: Store) -> None:
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    store.hit("a", T0 + 2, W)
    # lands in the next window [T0+W, T0+2W): a repeat there; window 1's digest is due
    assert not store.hit("a", T0 + W + 1, W).alert
    assert _summary(store.claim_due(T0 + W + 1)) == [("a", 2, T0 + W)]
    assert _summary(store.claim_due(T0 + 2 * W)) == [("a", 1, T0 + 2 * W)]


def test_keys_are_independent_and_dues_come_oldest_first(store: Store) -> None:
    for i, key in enumerate(["c", "a", "b"]):  # windows end at T0+W, +W+1, +W+2
        assert store.hit(key, T0 + i, W).alert
        assert not store.hit(key, T0 + i + 0.5, W).alert
    assert store.hit("d", T0 + 3, W).alert  # no repeats: never due
    assert store.claim_due(T0 + W + 5, limit=0) == []
    first = store.claim_due(T0 + W + 5, limit=2)
    rest = store.claim_due(T0 + W + 5, limit=2)
    assert [d.key for d in first] == ["c", "a"]
    assert [d.key for d in rest] == ["b"]
    assert store.claim_due(T0 + 10 * W) == []


def test_total_counts_every_occurrence(store: Store) -> None:
    for i in range(7):
        store.hit("a", T0 + i, W)
    for i in range(3):
        store.hit("a", T0 + 2 * W + i, W)  # fresh chain after window 2 ended empty
    (due,) = store.claim_due(T0 + 2 * W)
    assert due.occurrences.total == 7
    (due,) = store.claim_due(T0 + 3 * W)
    assert (due.occurrences.count, due.occurrences.total) == (2, 10)


def test_histogram_sums_to_the_count(store: Store) -> None:
    store.hit("a", T0, W)
    times = [T0 + 0.1, T0 + 5, T0 + 6, T0 + 30, T0 + W - 0.001, T0 + 59.99]
    for t in times:
        store.hit("a", t, W)
    (due,) = store.claim_due(T0 + W)
    histogram = due.occurrences.histogram
    assert len(histogram) == BUCKETS
    assert sum(histogram) == due.occurrences.count == len(times)
    assert histogram[0] == 2
    assert histogram[-1] == 2
    assert histogram[5] == 1


def test_samples_ride_with_digests(store: Store) -> None:
    sample = event()
    store.hit("a", T0, W)
    store.put_sample("a", sample)
    store.put_sample("unknown", event("other"))  # no such key: ignored
    store.hit("a", T0 + 1, W)
    store.hit("b", T0, W)
    store.hit("b", T0 + 1, W)  # b has no sample
    dues = {d.key: d for d in store.claim_due(T0 + W)}
    assert dues["a"].sample == sample
    assert dues["b"].sample is None


def test_drain_hands_over_nothing_twice(store: Store) -> None:
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    drained = store.drain(T0 + 2)
    # memory hands the open window over now; a shared store keeps it for the others
    later = store.claim_due(T0 + W)
    assert sum(d.occurrences.count for d in drained + later) == 1
    assert store.claim_due(T0 + 2 * W) == []


def test_bad_window_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="window"):
        store.hit("a", T0, 0.0)
    # the refusal left no trace: the next good hit is the first
    assert store.hit("a", T0, W).occurrences.is_new


# -- fold: repeats a process counted locally (Throttle's batching) ----------------------------


def _batch(key: str, start: float, count: int, first: float, last: float, bucket: int = 0) -> Batch:
    histogram = [0] * BUCKETS
    histogram[bucket] = count
    return Batch(key, start, start + W, count, first, last, tuple(histogram))


def test_a_fold_joins_its_open_window(store: Store) -> None:
    store.hit("a", T0, W)
    store.hit("a", T0 + 10, W)
    store.fold([_batch("a", T0, 40, T0 + 1, T0 + 50, bucket=3)], T0 + 51)
    store.hit("a", T0 + 55, W)
    (due,) = store.claim_due(T0 + W)
    occ = due.occurrences
    assert (occ.count, occ.total, occ.first_seen, occ.last_seen) == (42, 43, T0 + 1, T0 + 55)
    assert sum(occ.histogram) == 42
    assert occ.histogram[3] == 40
    assert store.claim_due(T0 + 2 * W) == []


def test_a_fold_into_a_window_the_store_saw_no_repeat_in_makes_it_due(store: Store) -> None:
    # the only repeats were counted elsewhere: the window must not close silently
    store.hit("a", T0, W)
    store.fold([_batch("a", T0, 5, T0 + 1, T0 + 2)], T0 + 3)
    assert store.claim_due(T0 + W - 1) == []
    (due,) = store.claim_due(T0 + W)
    assert (due.occurrences.count, due.occurrences.total) == (5, 6)
    assert not store.hit("a", T0 + W + 1, W).alert  # the window after a digest is open


def test_a_late_fold_joins_the_window_open_now(store: Store) -> None:
    store.hit("a", T0, W)
    store.hit("a", T0 + 1, W)
    assert [d.occurrences.count for d in store.claim_due(T0 + W)] == [1]  # settled: W..2W open
    store.fold([_batch("a", T0, 7, T0 + 2, T0 + 3)], T0 + W + 1)  # arrives after the claim
    (due,) = store.claim_due(T0 + 2 * W)
    occ = due.occurrences
    assert (occ.count, occ.total, occ.window_start) == (7, 9, T0 + W)
    assert occ.histogram[0] == 7
    assert store.claim_due(T0 + 3 * W) == []


def test_a_late_fold_with_no_window_open_is_a_digest_of_its_own(store: Store) -> None:
    store.hit("a", T0, W)  # a window that ends empty as far as the store knows
    store.fold([_batch("a", T0, 4, T0 + 1, T0 + 2)], T0 + 2 * W + 5)
    store.hit("a", T0 + 2 * W + 6, W)  # a new chain: alerted, its total counts the fold
    (due,) = store.claim_due(T0 + 2 * W + 6)
    occ = due.occurrences
    assert (occ.count, occ.window_start, occ.window_end) == (4, T0, T0 + W)
    assert store.claim_due(T0 + 10 * W) == []


def test_a_fold_never_alerts_and_never_loses_a_forgotten_fingerprint(store: Store) -> None:
    store.fold([_batch("ghost", T0, 3, T0 + 1, T0 + 2)], T0 + 5)
    (due,) = store.claim_due(T0 + W)  # its window is unknown: due at once
    assert (due.key, due.occurrences.count, due.occurrences.total) == ("ghost", 3, 3)
    hit = store.hit("ghost", T0 + W + 1, W)
    assert hit.alert
    assert (hit.occurrences.is_new, hit.occurrences.total) == (False, 4)


def test_repeats_name_their_window_in_shared_stores(store: Store) -> None:
    store.hit("a", T0, W)
    repeat = store.hit("a", T0 + 1, W)
    assert not repeat.alert
    if store.shared:  # the throttle counts the rest of this window locally
        assert (repeat.occurrences.window_start, repeat.occurrences.window_end) == (T0, T0 + W)


def test_a_fold_of_a_forgotten_fingerprint_opens_no_window(store: Store) -> None:
    # its batch's window has not ended, but the store never opened it: the next hit alerts
    store.fold([_batch("ghost", T0, 3, T0 + 1, T0 + 2)], T0 + 5)
    hit = store.hit("ghost", T0 + 6, W)
    assert hit.alert
    assert (hit.occurrences.total, hit.occurrences.window_start) == (4, T0 + 6)


# -- where the repeats came from: processes, hosts, releases --------------------------------

WEB1_A, WEB1_B, WEB2 = "101@web-1", "102@web-1", "7@web-2"


def _origins(due: Due) -> tuple[int, int, tuple[str, ...]]:
    occ = due.occurrences
    return occ.hosts, occ.processes, occ.releases


def test_two_processes_folding_into_one_window_make_a_digest_of_both(store: Store) -> None:
    assert store.hit("a", T0, W, release="1.4.2", source=WEB1_A).alert
    store.fold(
        [dataclasses.replace(_batch("a", T0, 5, T0 + 1, T0 + 2), source=WEB1_A, release="1.4.2")],
        T0 + 3,
    )
    store.fold(
        [dataclasses.replace(_batch("a", T0, 7, T0 + 4, T0 + 5), source=WEB1_B, release="1.4.3")],
        T0 + 6,
    )
    (due,) = store.claim_due(T0 + W)
    assert due.occurrences.count == 12
    assert _origins(due) == (1, 2, ("1.4.2", "1.4.3"))
    occ = due.occurrences
    assert (occ.more_hosts, occ.more_processes, occ.more_releases) == (False, False, False)


def test_repeats_from_hosts_count_hosts_and_processes_once_each(store: Store) -> None:
    store.hit("a", T0, W, release="1.4.3", source=WEB1_A)  # the alert: not a repeat
    for i, source in enumerate([WEB1_B, WEB2, WEB1_B, WEB2, WEB1_B], start=1):
        assert not store.hit("a", T0 + i, W, release="1.4.3", source=source).alert
    (due,) = store.claim_due(T0 + W)
    assert (due.occurrences.count, *_origins(due)) == (5, 2, 2, ("1.4.3",))


def test_each_window_says_where_its_own_repeats_came_from(store: Store) -> None:
    store.hit("a", T0, W, source=WEB1_A)
    store.hit("a", T0 + 1, W, source=WEB1_B)
    store.hit("a", T0 + 2, W, source=WEB2)
    store.hit("a", T0 + W + 1, W, release="1.4.3", source=WEB2)  # settles window 1
    first, second = store.claim_due(T0 + W + 1) + store.claim_due(T0 + 2 * W)
    assert _origins(first) == (2, 2, ())  # no release known: none listed
    assert _origins(second) == (1, 1, ("1.4.3",))


def test_alerts_and_callers_that_name_no_source_carry_no_origins(store: Store) -> None:
    alert = store.hit("a", T0, W, release="1.4.3")
    assert (alert.occurrences.hosts, alert.occurrences.processes) == (0, 0)
    store.hit("a", T0 + 1, W)
    (due,) = store.claim_due(T0 + W)
    assert _origins(due) == (0, 0, ())  # unknown, as state kept by an earlier version


def test_a_late_fold_with_no_window_open_is_a_digest_of_its_own_origins(store: Store) -> None:
    store.hit("a", T0, W, source=WEB1_A)
    store.hit("a", T0 + 1, W, source=WEB1_A)
    (settled,) = store.claim_due(T0 + W)
    assert _origins(settled) == (1, 1, ())
    late = dataclasses.replace(_batch("a", T0, 4, T0 + 1, T0 + 2), source=WEB2, release="9")
    store.fold([late], T0 + 3 * W)  # its window was settled and the next ended empty
    (due,) = store.claim_due(T0 + 3 * W)
    assert (due.occurrences.count, *_origins(due)) == (4, 1, 1, ("9",))


# -- the outbox's ledger: sends booked per channel, storm summaries --------------------------

FEISHU = (Rate(5, 1.0), Rate(100, 60.0))


def _partner(store: Store, tmp_path: Path) -> Store:
    """A second handle on the same state, as another process would open it."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    if isinstance(store, RedisStore):
        return RedisStore(store.url, namespace=store.namespace)  # (no password to mask)
    return store  # one process: the same object


def test_reserve_books_like_pacing_reserve(store: Store) -> None:
    rng = random.Random(5)
    reference: list[float] = []
    now = T0
    for _ in range(400):
        now += rng.expovariate(8.0)
        horizon = rng.choice([0.5, 3.0, 60.0, math.inf])
        keep = rng.choice([0, 1])
        max_waiting = rng.choice([None, 3, 50])
        expected = pacing.reserve(
            reference, FEISHU, now, horizon, keep=keep, max_waiting=max_waiting
        )
        got = store.reserve("lane", now, FEISHU, horizon, keep=keep, max_waiting=max_waiting)
        assert got == expected
    assert store.reserve("other", now, FEISHU, 0.0) == now  # lanes are separate
    assert store.reserve("lane", now, (), 0.0) == now  # unpaced: always now


def test_processes_share_one_budget_per_channel(store: Store, tmp_path: Path) -> None:
    other = _partner(store, tmp_path)
    slots = [s.reserve("lane", T0, FEISHU, 60.0) for s in (store, other) * 6]
    assert slots == [T0] * 5 + [T0 + 1.0] * 5 + [T0 + 2.0] * 2


def test_services_share_a_robots_budget_and_storm_not_their_windows(
    store: Store, tmp_path: Path
) -> None:
    """Two services on one shared store (another namespace): one budget and one storm summary
    per robot (lane) between them, and each its own windows, digests and silenced counts."""
    if isinstance(store, SQLiteStore):
        store = SQLiteStore(store.path, namespace="checkout")
        other: Store = SQLiteStore(store.path, namespace="billing")
    elif isinstance(store, RedisStore):
        other = RedisStore(store.url, namespace=store.namespace + "-billing")
    else:
        pytest.skip("one process: nothing shared")
    slots = [s.reserve("lane", T0, FEISHU, 60.0) for s in (store, other) * 6]
    assert slots == [T0] * 5 + [T0 + 1.0] * 5 + [T0 + 2.0] * 2
    store.add_to_storm("lane", _entry("a"), event("first"), T0, 3.0)
    other.add_to_storm("lane", _entry("b", 4), event("second"), T0 + 1, 3.0)
    pile = other.claim_storm("lane", T0 + 3, FEISHU)
    assert isinstance(pile, Pile)
    assert [(g.fingerprint, g.count) for g in pile.groups] == [("b", 4), ("a", 1)]
    assert store.claim_storm("lane", T0 + 3, FEISHU) is None
    # the same fingerprint is a new error in each service, with its own digest
    assert store.hit("k", T0, W).alert
    assert other.hit("k", T0 + 1, W).alert
    assert not store.hit("k", T0 + 2, W).alert
    for _ in range(3):
        other.hit("k", T0 + 3, W)
    assert _summary(store.claim_due(T0 + W + 5)) == [("k", 1, T0 + W)]
    assert _summary(other.claim_due(T0 + W + 5)) == [("k", 3, T0 + 1 + W)]
    store.count_silenced({"rule": 2}, T0)
    other.count_silenced({"rule": 5}, T0)
    assert store.silenced()["rule"].count == 2
    assert other.silenced()["rule"].count == 5


def _entry(fp: str, count: int = 1) -> StormEntry:
    return StormEntry(fp, f"ValueError: {fp}", f"app.{fp}", count, W)


def test_a_storm_summary_gathers_then_is_claimed_once_with_a_slot(
    store: Store, tmp_path: Path
) -> None:
    other = _partner(store, tmp_path)
    first = event("first")
    store.add_to_storm("lane", _entry("a"), first, T0, 3.0)
    other.add_to_storm("lane", _entry("b", 5), event("second"), T0 + 1, 3.0)
    store.add_to_storm("lane", _entry("a", 2), event("third"), T0 + 2, 3.0)
    assert store.claim_storm("lane", T0 + 2.5, FEISHU) == T0 + 3.0  # still gathering
    assert store.claim_storm("nothing", T0 + 5, FEISHU) is None
    for _ in range(5):  # the channel's budget is busy this second
        store.reserve("lane", T0 + 3, FEISHU, 60.0)
    pile = other.claim_storm("lane", T0 + 3, FEISHU)
    assert isinstance(pile, Pile)
    assert [(g.fingerprint, g.count) for g in pile.groups] == [("b", 5), ("a", 3)]
    assert (pile.total, pile.since, pile.until, pile.window) == (8, T0, T0 + 2, W)
    assert pile.sample == first
    assert pile.slot == T0 + 4.0  # booked after the sends already booked
    assert store.claim_storm("lane", T0 + 3, FEISHU) is None  # exactly once
    assert store.reserve("lane", T0 + 3, FEISHU, 60.0) == T0 + 4.0  # the summary's slot counts


def test_a_storm_summary_can_be_claimed_early_at_shutdown(store: Store) -> None:
    store.add_to_storm("lane", _entry("a"), event(), T0, 3.0)
    pile = store.claim_storm("lane", T0 + 0.1, FEISHU, force=True)
    assert isinstance(pile, Pile)
    assert pile.total == 1


def test_a_storm_keeps_each_errors_type_and_culprit_code_line(store: Store) -> None:
    """What a summary line shows of an error: its type, where, and the code line there."""
    line = "return _client.create_charge(amount_cents=int(total * 100), **kwargs)"
    store.add_to_storm(
        "lane",
        StormEntry(
            "a", "KeyError: 'sku'", "shop.pay (shop/pay.py:9)", 2, W, type="KeyError", code=line
        ),
        event(),
        T0,
        3.0,
    )
    store.add_to_storm("lane", _entry("b"), event(), T0, 3.0)  # an entry without a code line
    pile = store.claim_storm("lane", T0 + 3, ())
    assert isinstance(pile, Pile)
    by_fp = {g.fingerprint: g for g in pile.groups}
    assert (by_fp["a"].type, by_fp["a"].code) == ("KeyError", line)
    assert by_fp["b"].code == ""


def test_a_wide_storm_lists_the_first_errors_and_counts_the_rest(store: Store) -> None:
    for i in range(MAX_STORM_GROUPS + 30):
        store.add_to_storm("lane", _entry(f"e{i:03d}"), event(), T0 + i * 0.001, 3.0)
    pile = store.claim_storm("lane", T0 + 10, ())
    assert isinstance(pile, Pile)
    assert pile.total == MAX_STORM_GROUPS + 30
    assert len(pile.groups) == MAX_STORM_GROUPS + 1
    other = pile.groups[-1]
    assert (other.fingerprint, other.title, other.count) == (OTHER_ERRORS, "other errors", 30)
    assert pile.slot == T0 + 10  # unpaced


def _folded(
    fp: str, count: int = 1, *, new: bool = False, extra: tuple[str, ...] = ()
) -> StormEntry:
    """An entry as the outbox folds it: an alert of a new error (``new``) or a digest."""
    return StormEntry(
        fp,
        f"KeyError: {fp}",
        f"app.{fp}",
        count,
        W,
        type="KeyError",
        is_new=new,
        mentions=new,
        extra_mentions=extra,
    )


def test_a_storm_keeps_its_new_errors_and_hands_the_biggest_over_once(
    store: Store, tmp_path: Path
) -> None:
    other = _partner(store, tmp_path)
    events = {fp: event(f"boom {fp}", exc_type="KeyError") for fp in "abcde"}
    store.add_to_storm("lane", _folded("a", new=True, extra=("13900000000",)), events["a"], T0, 3)
    other.add_to_storm("lane", _folded("b", 5), events["b"], T0 + 0.1, 3)  # a digest: not new
    store.add_to_storm("lane", _folded("c", new=True), events["c"], T0 + 0.2, 3)
    other.add_to_storm("lane", _folded("c", 3), events["c"], T0 + 0.3, 3)  # its repeats
    store.add_to_storm("lane", _folded("d", new=True), events["d"], T0 + 0.4, 3)
    other.add_to_storm("lane", _folded("e", 2, new=True), events["e"], T0 + 0.5, 3)
    pile = other.claim_storm("lane", T0 + 3, (), followups=3)
    assert isinstance(pile, Pile)
    # ties by title: every store lists them in the same order
    assert [(g.fingerprint, g.count, g.type, g.is_new) for g in pile.groups] == [
        ("b", 5, "KeyError", False),
        ("c", 4, "KeyError", True),
        ("e", 2, "KeyError", True),
        ("a", 1, "KeyError", True),
        ("d", 1, "KeyError", True),
    ]
    # the most occurrences first, then by title: c (4), e (2), a (1, before d)
    assert [(f.fingerprint, f.count) for f in pile.followups] == [("c", 4), ("e", 2), ("a", 1)]
    a = pile.followups[2]
    assert (a.event, a.window, a.mentions, a.extra_mentions) == (
        events["a"],
        W,
        True,
        ("13900000000",),
    )
    assert pile.followups[0].event == events["c"]
    assert pile.followups[0].extra_mentions == ()
    assert store.claim_storm("lane", T0 + 3, (), followups=3) is None  # exactly once


def test_a_storm_hands_over_no_follow_ups_unless_asked_and_keeps_them_bounded(
    store: Store,
) -> None:
    store.add_to_storm("quiet", _folded("x", new=True), event(), T0, 3)
    quiet = store.claim_storm("quiet", T0 + 3, ())
    assert isinstance(quiet, Pile)
    assert quiet.followups == ()
    assert quiet.groups[0].is_new
    for i in range(MAX_STORM_GROUPS + 5):
        store.add_to_storm("lane", _folded(f"e{i:03d}", new=True), event(), T0 + i * 0.001, 3)
    pile = store.claim_storm("lane", T0 + 3, (), followups=MAX_STORM_GROUPS + 5)
    assert isinstance(pile, Pile)
    other = pile.groups[-1]
    assert other.fingerprint == OTHER_ERRORS
    assert not other.is_new  # the errors beyond the list are counted, not kept
    assert len(pile.followups) == MAX_STORM_GROUPS  # one per listed new error: bounded
    assert {f.fingerprint for f in pile.followups} == {f"e{i:03d}" for i in range(100)}
