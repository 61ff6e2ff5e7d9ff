"""One clock for a fleet (erralert._stores.redis_clock): a host whose clock is 40 s off
decides windows and books sends in Redis' time, so it neither alerts again inside another
host's window nor books its sends 40 s into everyone's future.

The skewed host is this process with its wall clock moved 40 s ahead (freezegun, ticking:
``time.time()`` runs on, 40 s ahead of Redis' ``TIME``); the other host uses the real one.
Each store reads the clock it runs under when it checks in."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from erralert._core.pacing import Rate
from erralert._stores.fleet import Member
from erralert._stores.redis import RedisStore

DINGTALK = (Rate(20, 60.0),)
SKEW = 40.0  # the skewed host's clock is this far ahead
W = 30.0
_names = itertools.count()


@contextmanager
def skewed() -> Iterator[None]:
    """The wall clock 40 s ahead, running on."""
    with freeze_time(datetime.fromtimestamp(time.time() + SKEW, tz=UTC), tick=True):
        yield


@pytest.fixture
def hosts(redis_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """Two members of one service: ``right`` (the real clock) and ``ahead`` (used only under
    ``skewed()``); ``ahead`` checks in first, so it holds the lease and claims."""
    namespace = f"skew-{next(_names)}"
    made = []
    for host in ("ahead", "right"):
        store = RedisStore(redis_url, namespace=namespace)
        store.join(Member(f"{host}:{namespace}", "shop", host, None, (f"lane-{namespace}",)))
        made.append(store)
    ahead, right = made
    with skewed():
        assert ahead.claim_due(time.time()) == []  # its first check-in: 40 s ahead
    assert right.claim_due(time.time()) == []
    yield right, ahead
    for store in made:
        store.close()


def test_a_host_40_s_ahead_counts_in_the_same_window(
    hosts: tuple[RedisStore, RedisStore],
) -> None:
    right, ahead = hosts
    t = time.time()
    assert right.hit("k", t, W).alert
    with skewed():
        # its clock reads 40 s after the window opened, 10 s past its end by that clock;
        # by the store's the window is a moment old: a repeat, not a second alert
        repeat = ahead.hit("k", time.time(), W)
    assert not repeat.alert
    occ = repeat.occurrences
    assert (occ.window_start, occ.window_end) == (t + SKEW, t + W + SKEW)  # in its clock
    # the window ends at the store's t + W, whatever the claiming host's clock says
    with skewed():
        assert ahead.claim_due(t + W - 1 + SKEW) == []
        (due,) = ahead.claim_due(t + W + 1 + SKEW)
    assert (due.key, due.occurrences.count) == ("k", 1)
    assert due.occurrences.window_end == t + W + SKEW  # told in its clock


def test_the_skew_is_said_once_in_the_log(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    store = RedisStore(redis_url, namespace=f"skew-{next(_names)}")
    store.join(Member("ahead", "shop", "ahead", None, ()))
    with skewed():
        store.claim_due(time.time())
        store.hit("k", time.time(), W)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "this host's clock is 40." in warning
    assert "s ahead of the redis store's" in warning
    store.close()


def test_a_host_40_s_ahead_does_not_book_sends_in_everyones_future(
    hosts: tuple[RedisStore, RedisStore],
) -> None:
    right, ahead = hosts
    name = f"lane-{right.namespace}"
    now = time.time()
    assert right.reserve(name, now, DINGTALK, 60.0) == now
    with skewed():
        now_ahead = time.time()
        assert ahead.reserve(name, now_ahead, DINGTALK, 60.0) == now_ahead  # now, its clock
    # the next send of the right host is not queued 40 s behind the skewed host's
    now = time.time()
    assert right.reserve(name, now, DINGTALK, 60.0) == pytest.approx(now, abs=0.5)


def test_a_host_within_a_second_keeps_its_own_clock(redis_url: str) -> None:
    store = RedisStore(redis_url, namespace=f"skew-{next(_names)}")
    store.join(Member("right", "shop", "right", None, ()))
    t = time.time()
    hit = store.hit("k", t, W)
    assert (hit.occurrences.window_start, hit.occurrences.window_end) == (t, t + W)
    store.close()


def test_clock_local_trusts_the_hosts_clock(redis_url: str) -> None:
    """``?clock=local``: no correction — a skewed host then decides on its own clock."""
    namespace = f"skew-{next(_names)}"
    right = RedisStore(redis_url, namespace=namespace)
    ahead = RedisStore.from_url(f"{redis_url}?namespace={namespace}&clock=local")
    ahead.join(Member("ahead", "shop", "ahead", None, ()))
    t = time.time()
    try:
        assert right.hit("k", t, W).alert
        with skewed():
            assert ahead.hit("k", time.time(), W).alert  # past the window, by its clock
    finally:
        right.close()
        ahead.close()
