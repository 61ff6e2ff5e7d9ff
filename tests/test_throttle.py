"""The window semantics: the pure functions over WindowState, and Throttle over the
memory store (explicit times, and freezegun driving time.time())."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from erralert._core.event import Event
from erralert._core.notice import Occurrences
from erralert._grouping.throttle import Throttle
from erralert._stores.base import Due
from erralert._stores.memory import MemoryStore
from erralert._stores.windows import (
    BUCKETS,
    REPEAT,
    WindowSlot,
    WindowState,
    cut,
    record,
    settle,
)

W = 60.0
T0 = 1_700_000_000.0  # a realistic UNIX time, so float rounding is exercised too


# -- pure functions --------------------------------------------------------------------------


def test_first_occurrence_opens_a_window_and_alerts() -> None:
    state, hit, digest = record(None, T0, W)
    assert hit.alert is True
    assert digest is None
    assert hit.occurrences == Occurrences(
        count=1,
        total=1,
        first_seen=T0,
        last_seen=T0,
        window=W,
        is_new=True,
        window_start=T0,
        window_end=T0 + W,
        status="new",
        since=T0,
        previous=None,
        first_release=None,
        last_release=None,
    )
    assert state == WindowState(
        window=W,
        window_start=T0,
        window_end=T0 + W,
        count=0,
        first_seen=0.0,
        last_seen=0.0,
        total=1,
        histogram=(0,) * BUCKETS,
        since=T0,
        latest=T0,
    )
    assert state.is_open(T0 + W - 0.001)
    assert not state.is_open(T0 + W)
    assert state.due_at is None  # no repeats: nothing will be due


def test_repeats_inside_the_window_are_counted() -> None:
    state, _, _ = record(None, T0, W)
    for dt in (1.0, 5.0, 59.0):
        state, hit, digest = record(state, T0 + dt, W)
        assert hit.alert is False
        assert hit == REPEAT
        assert digest is None
    assert state.count == 3
    assert state.total == 4
    assert (state.first_seen, state.last_seen) == (T0 + 1, T0 + 59)
    assert state.histogram == (2, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    assert state.due_at == T0 + W


def test_histogram_buckets_are_tenths_of_the_window() -> None:
    state, _, _ = record(None, 0.0, 10.0)
    for t in (0.0, 0.99, 1.0, 2.5, 4.999, 5.0, 9.0, 9.999):
        state, _, _ = record(state, t, 10.0)
    assert state.histogram == (2, 1, 1, 0, 1, 1, 0, 0, 0, 2)
    assert sum(state.histogram) == state.count == 8


def test_occurrence_at_window_end_belongs_to_the_next_window() -> None:
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 10, W)
    state, hit, digest = record(state, T0 + W, W)  # exactly at the end
    assert hit.alert is False  # the next window opened at once: a repeat there
    assert digest is not None
    assert digest.count == 1
    assert (digest.window_start, digest.window_end) == (T0, T0 + W)
    assert (state.window_start, state.window_end, state.count) == (T0 + W, T0 + 2 * W, 1)
    assert state.histogram[0] == 1


def test_ended_window_with_repeats_yields_one_digest_and_the_next_opens_at_its_end() -> None:
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 6, W)
    state, _, _ = record(state, T0 + 30, W)
    settled, digest = settle(state, T0 + W + 1)
    assert digest == Occurrences(
        count=2,
        total=3,
        first_seen=T0 + 6,
        last_seen=T0 + 30,
        window=W,
        is_new=False,
        window_start=T0,
        window_end=T0 + W,
        histogram=(0, 1, 0, 0, 0, 1, 0, 0, 0, 0),
        status="recurring",
        since=T0,
    )
    assert (settled.window_start, settled.window_end, settled.count) == (T0 + W, T0 + 2 * W, 0)
    assert settled.histogram == (0,) * BUCKETS
    assert settled.total == 3
    # settling again yields nothing: one digest per window
    again, nothing = settle(settled, T0 + W + 2)
    assert nothing is None
    assert again is settled


def test_settle_before_the_end_changes_nothing() -> None:
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 1, W)
    same, digest = settle(state, T0 + W - 0.5)
    assert same is state
    assert digest is None


def test_ended_window_without_repeats_closes_silently() -> None:
    state, _, _ = record(None, T0, W)
    settled, digest = settle(state, T0 + 5 * W)
    assert digest is None
    assert not settled.is_open(T0 + 5 * W)
    state, hit, digest = record(settled, T0 + 5 * W, W)
    assert hit.alert is True
    assert digest is None
    assert hit.occurrences.is_new is False
    assert hit.occurrences.total == 2
    assert (hit.occurrences.window_start, hit.occurrences.window_end) == (T0 + 5 * W, T0 + 6 * W)


def test_lazy_settling_over_several_windows() -> None:
    # window 1 [T0, T0+W) has repeats -> digest; window 2 opens at once at T0+W and gets
    # none -> closed; an occurrence in window 4's time is a fresh alert.
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 20, W)
    state, _, _ = record(state, T0 + 40, W)
    state, hit, digest = record(state, T0 + 3.5 * W, W)
    assert digest is not None
    assert (digest.count, digest.window_start, digest.window_end) == (2, T0, T0 + W)
    assert digest.total == 3  # the total as the window ended, before this occurrence
    assert hit.alert is True
    assert hit.occurrences.is_new is False
    assert hit.occurrences.total == 4
    assert hit.occurrences.window_start == T0 + 3.5 * W
    assert state.count == 0


def test_lazy_settling_into_the_window_that_opened_at_once() -> None:
    # window 1 had repeats; the occurrence lands inside window 2: a digest and a repeat
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 1, W)
    state, hit, digest = record(state, T0 + W + 30, W)
    assert digest is not None
    assert digest.count == 1
    assert hit.alert is False
    assert (state.window_start, state.count, state.histogram[5]) == (T0 + W, 1, 1)


def test_cut_ends_the_window_early_and_closes_it() -> None:
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 1, W)
    state, _, _ = record(state, T0 + 2, W)
    closed, digest = cut(state, T0 + 10)
    assert digest is not None
    assert (digest.count, digest.window_start, digest.window_end) == (2, T0, T0 + 10)
    assert digest.window == W  # buckets stay tenths of W; the later ones are simply empty
    assert digest.histogram == (2, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert closed.count == 0
    assert not closed.is_open(T0 + 10)
    _, hit, _ = record(closed, T0 + 10, W)
    assert hit.alert is True
    assert hit.occurrences.is_new is False


def test_cut_of_a_window_without_repeats_yields_nothing() -> None:
    state, _, _ = record(None, T0, W)
    closed, digest = cut(state, T0 + 10)
    assert digest is None
    assert not closed.is_open(T0 + 10)


def test_cut_after_the_end_settles_normally() -> None:
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 1, W)
    closed, digest = cut(state, T0 + W + 5)
    assert digest is not None
    assert digest.window_end == T0 + W  # the real end, not the cut time
    assert not closed.is_open(T0 + W + 5)


def test_a_new_window_length_applies_from_the_next_window() -> None:
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 1, W)
    state, _, digest = record(state, T0 + W + 1, 30.0)
    assert digest is not None
    assert digest.window == W
    assert (state.window, state.window_start, state.window_end) == (30.0, T0 + W, T0 + W + 30)


def test_an_occurrence_before_window_start_counts_in_the_first_bucket() -> None:
    # clocks of processes sharing a store disagree a little
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 5, W)
    state, _, _ = record(state, T0 - 1, W)
    assert state.histogram[0] == 2
    assert (state.first_seen, state.last_seen) == (T0 - 1, T0 + 5)


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        record(None, T0, 0.0)
    with pytest.raises(ValueError, match="window"):
        record(None, T0, float("nan"))
    with pytest.raises(ValueError, match="window"):
        Throttle(MemoryStore(), -1.0)


def test_slot_round_trips_through_state() -> None:
    state, _, _ = record(None, T0, W)
    state, _, _ = record(state, T0 + 7, W)
    assert WindowSlot.from_state(state).to_state() == state
    with pytest.raises(ValueError, match="buckets"):
        WindowSlot.from_state(WindowState(W, T0, T0 + W, 0, 0.0, 0.0, 1, (0, 0)))


# -- Throttle over the memory store ----------------------------------------------------------


def _counts(dues: list[Due]) -> list[int]:
    return [d.occurrences.count for d in dues]


def test_100_identical_hits_in_a_window_alert_once_and_digest_99() -> None:
    throttle = Throttle(MemoryStore(), W)
    hits = [throttle.hit("fp", T0 + i * 0.5) for i in range(100)]
    assert [h.alert for h in hits].count(True) == 1
    assert hits[0].alert is True
    assert throttle.due(T0 + W - 0.001) == []  # not over yet
    dues = throttle.due(T0 + W)
    assert len(dues) == 1
    occ = dues[0].occurrences
    assert (dues[0].key, occ.count, occ.total, occ.is_new) == ("fp", 99, 100, False)
    assert (occ.first_seen, occ.last_seen) == (T0 + 0.5, T0 + 49.5)
    assert (occ.window_start, occ.window_end, occ.window) == (T0, T0 + W, W)
    assert sum(occ.histogram) == 99
    # a hit every 0.5 s from T0+0.5 to T0+49.5; buckets are 6 s wide
    assert occ.histogram == (11, 12, 12, 12, 12, 12, 12, 12, 4, 0)
    assert throttle.due(T0 + W + 1) == []  # handed out once


def test_continuing_errors_yield_one_digest_per_window_and_no_new_alert() -> None:
    throttle = Throttle(MemoryStore(), W)
    alerts = 0
    digests: list[Due] = []
    # an error every second for three windows, the worker claiming every 10 s
    for i in range(int(3 * W)):
        now = T0 + i
        alerts += throttle.hit("fp", now).alert
        if i % 10 == 0:
            digests += throttle.due(now)
    digests += throttle.due(T0 + 3 * W)
    assert alerts == 1
    assert _counts(digests) == [59, 60, 60]
    assert [d.occurrences.window_start for d in digests] == [T0, T0 + W, T0 + 2 * W]
    assert [d.occurrences.total for d in digests] == [60, 120, 180]
    assert all(d.occurrences.histogram == (6,) * 10 for d in digests[1:])
    # the window that opened at T0+3W stays empty: it closes silently
    assert throttle.due(T0 + 10 * W) == []
    assert throttle.next_due() is None


def test_silence_longer_than_a_window_then_a_fresh_alert() -> None:
    throttle = Throttle(MemoryStore(), W)
    assert throttle.hit("fp", T0).occurrences.is_new is True
    throttle.hit("fp", T0 + 1)
    assert _counts(throttle.due(T0 + W)) == [1]
    hit = throttle.hit("fp", T0 + 2 * W + 1)  # window 2 [W, 2W) stayed empty
    assert hit.alert is True
    assert hit.occurrences.is_new is False
    assert hit.occurrences.total == 3
    assert throttle.due(T0 + 4 * W) == []


def _event(title: str = "ValueError: bad input") -> Event:
    return Event(
        event_id="0" * 32,
        timestamp=T0,
        level="error",
        title=title,
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
        fingerprint="fp",
    )


def test_digest_carries_the_sample() -> None:
    throttle = Throttle(MemoryStore(), W)
    event = _event()
    assert throttle.hit("fp", T0).alert
    throttle.put_sample("fp", event)
    throttle.hit("fp", T0 + 1)
    (due,) = throttle.due(T0 + W)
    assert due.sample is event


def test_drain_hands_over_open_windows_early() -> None:
    throttle = Throttle(MemoryStore(), W)
    throttle.hit("a", T0)
    throttle.hit("a", T0 + 1)
    throttle.hit("a", T0 + 2)
    throttle.hit("b", T0 + 3)  # no repeats: nothing to hand over
    dues = throttle.drain(T0 + 30)
    assert [(d.key, d.occurrences.count, d.occurrences.window_end) for d in dues] == [
        ("a", 2, T0 + 30)
    ]
    assert throttle.drain(T0 + 31) == []
    assert throttle.due(T0 + 10 * W) == []
    assert throttle.hit("a", T0 + 31).alert is True  # the drained window is closed


def test_throttle_with_freezegun() -> None:
    start = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    with freeze_time(start) as frozen:
        throttle = Throttle(MemoryStore(), W)
        alerts = sum(throttle.hit("fp", time.time()).alert for _ in range(100))
        assert alerts == 1
        assert throttle.next_due() == start.timestamp() + W
        frozen.tick(timedelta(seconds=30))
        assert throttle.due(time.time()) == []
        frozen.tick(timedelta(seconds=30))
        dues = throttle.due(time.time())
        assert _counts(dues) == [99]
        assert dues[0].occurrences.histogram == (99,) + (0,) * 9  # all at the same instant
        frozen.tick(timedelta(seconds=2 * W))
        hit = throttle.hit("fp", time.time())
        assert (hit.alert, hit.occurrences.is_new, hit.occurrences.total) == (True, False, 101)


def test_throttle_delegates_to_its_store() -> None:
    store = MemoryStore()
    throttle = Throttle(store, 30)
    assert throttle.store is store
    assert throttle.window == 30.0
    assert throttle.next_due() is None
    throttle.close()
