"""RollingLimiter: rolling-window pacing, exact numbers."""

from __future__ import annotations

import math

import pytest

from erralert._core import pacing
from erralert._core.pacing import MAX_CAPACITY, Rate, RollingLimiter

DINGTALK = (Rate(20, 60),)
FEISHU = (Rate(5, 1), Rate(100, 60))


def _limiter(rates: tuple[Rate, ...], sends: list[float]) -> RollingLimiter:
    limiter = RollingLimiter(rates)
    for t in sends:
        limiter.record(t)
    return limiter


@pytest.mark.parametrize(
    ("rates", "sends", "now", "expected"),
    [
        # a burst of 20 fills DingTalk's minute: a token bucket would allow one more at t=3
        (DINGTALK, [0.0] * 20, 3.0, 57.0),
        (DINGTALK, [0.0] * 20, 59.5, 0.5),
        (DINGTALK, [0.0] * 20, 60.0, 0.0),  # a send stops counting exactly `period` later
        (DINGTALK, [0.0] * 19, 0.0, 0.0),
        (DINGTALK, [float(i) for i in range(20)], 20.0, 40.0),  # the one at 0 leaves at 60
        (DINGTALK, [float(i) for i in range(20)] + [60.0], 60.0, 1.0),
        (DINGTALK, [float(i) for i in range(1000)], 999.5, 40.5),  # only the recent 20 count
        (FEISHU, [0.0] * 5, 0.0, 1.0),
        (FEISHU, [0.0] * 5, 0.25, 0.75),
        (FEISHU, [0.0] * 4, 0.0, 0.0),
        # five a second for 20 s: the per-second rate is fine at 20, the minute is full
        (FEISHU, [float(s) for s in range(20) for _ in range(5)], 20.0, 40.0),
        (FEISHU, [float(s) for s in range(20) for _ in range(5)], 59.0, 1.0),
        (FEISHU, [float(s) for s in range(20) for _ in range(5)], 60.0, 0.0),
        ((), [0.0] * 1000, 0.0, 0.0),
    ],
)
def test_delay(rates: tuple[Rate, ...], sends: list[float], now: float, expected: float) -> None:
    assert _limiter(rates, sends).delay(now) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("rates", "sends", "now", "horizon", "expected"),
    [
        (DINGTALK, [], 0.0, 60.0, 20),  # the end is excluded: not 20 more at exactly 60
        (DINGTALK, [], 0.0, 60.001, 40),
        (DINGTALK, [], 0.0, 0.0, 20),  # what could go right now
        (DINGTALK, [0.0] * 20, 3.0, 0.0, 0),
        (DINGTALK, [0.0] * 20, 3.0, 57.0, 0),
        (DINGTALK, [0.0] * 20, 3.0, 57.001, 20),
        # 5 sent 10 s ago: 15 now, 5 more when those 5 leave at +50
        (DINGTALK, [0.0] * 5, 10.0, 60.0, 15 + 5),
        (DINGTALK, [0.0] * 5, 10.0, 50.0, 15),
        (DINGTALK, [0.0] * 5, 10.0, 60.001, 15 + 5 + 15),
        (DINGTALK, [0.0, 20.0, 40.0], 50.0, 30.0, 17 + 1),  # 0 leaves at 60; 20 at 80, excluded
        (FEISHU, [], 0.0, 0.0, 5),
        (FEISHU, [], 0.0, 1.0, 5),
        (FEISHU, [], 0.0, 1.5, 10),
        (FEISHU, [], 0.0, 10.0, 50),
        (FEISHU, [], 0.0, 60.0, 100),  # 5 a second until the minute's 100 are used at 19 s
        (FEISHU, [], 0.0, 60.5, 105),
        (FEISHU, [], 0.0, 120.0, 200),
        (FEISHU, [0.0] * 5, 0.5, 1.0, 5),  # the first 5 free at 1.0
        ((Rate(1_000_000, 1),), [], 0.0, 10.0, MAX_CAPACITY),
        ((), [], 0.0, 60.0, MAX_CAPACITY),
    ],
)
def test_capacity(
    rates: tuple[Rate, ...], sends: list[float], now: float, horizon: float, expected: int
) -> None:
    limiter = _limiter(rates, sends)
    assert limiter.capacity(now, horizon) == expected
    assert limiter.capacity(now, horizon) == expected  # simulation leaves the state alone


def test_capacity_matches_sending_as_early_as_allowed() -> None:
    # drive the limiter through delay/record and compare with the simulation
    limiter = _limiter(FEISHU, [0.0, 0.2, 0.2, 0.9, 3.0, 30.0])
    now, horizon = 30.5, 90.0
    predicted = limiter.capacity(now, horizon)
    t, sent = now, 0
    while True:
        t += limiter.delay(t)
        if t >= now + horizon:
            break
        limiter.record(t)
        sent += 1
    assert sent == predicted == 197


def test_unlimited() -> None:
    limiter = RollingLimiter([])
    assert limiter.unlimited
    limiter.record(0.0)
    assert limiter.delay(0.0) == 0.0
    assert not RollingLimiter(DINGTALK).unlimited


def test_record_never_goes_backwards() -> None:
    limiter = _limiter((Rate(2, 10),), [10.0, 5.0])  # the second is taken as at 10
    assert limiter.delay(12.0) == 8.0


@pytest.mark.parametrize("rate", [Rate(0, 60), Rate(5, 0), Rate(5, -1)])
def test_rates_must_be_sane(rate: Rate) -> None:
    with pytest.raises(ValueError, match="rate"):
        RollingLimiter([rate])


# -- reserve: booking sends ahead (the outbox's queue, shared through the store) -------------


def test_reserve_books_the_earliest_slots_after_each_other() -> None:
    times: list[float] = []
    slots = [pacing.reserve(times, FEISHU, 0.0, 60.0) for _ in range(12)]
    assert slots == [0.0] * 5 + [1.0] * 5 + [2.0] * 2
    assert times == slots  # under the depth: every booking kept


def test_reserve_refuses_beyond_the_horizon_and_books_nothing() -> None:
    times = [0.0] * 20
    assert pacing.reserve(times, DINGTALK, 3.0, 56.0) is None  # the next slot is at 60
    assert times == [0.0] * 20
    assert pacing.reserve(times, DINGTALK, 3.0, 57.0) == 60.0


def test_reserve_keeps_room_for_a_storm_summary() -> None:
    times = [0.0] * 19
    assert pacing.reserve(times, DINGTALK, 1.0, 30.0, keep=1) is None  # the 20th is kept
    assert pacing.reserve(times, DINGTALK, 1.0, 30.0) == 1.0  # the summary takes it


def test_reserve_limits_the_sends_waiting() -> None:
    times: list[float] = []
    got = [pacing.reserve(times, FEISHU, 0.0, 60.0, max_waiting=7) for _ in range(13)]
    # bookings at 0.0 are not waiting at now=0.0; later ones are, until seven wait
    assert got == [0.0] * 5 + [1.0] * 5 + [2.0] * 2 + [None]


def test_reserve_trims_to_the_depth_and_unlimited_books_nothing() -> None:
    times: list[float] = []
    for _ in range(150):
        pacing.reserve(times, FEISHU, 0.0, math.inf)
    assert len(times) == 100  # what `next_slot` can look back at
    # 5 a second fill the minute's 100 by t=19; the 101st waits for the first to leave
    assert times[-1] == 69.0
    unlimited: list[float] = []
    assert pacing.reserve(unlimited, (), 5.0, 0.0) == 5.0
    assert unlimited == []


def test_delay_and_next_slot_agree() -> None:
    limiter = _limiter(FEISHU, [0.0] * 5)
    assert limiter.delay(0.5) == 0.5
    assert pacing.next_slot([0.0] * 5, FEISHU, 0.5) == 1.0
