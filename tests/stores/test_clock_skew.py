"""One clock for a fleet (erralert._stores.redis_clock): a host whose clock is 40 s off
decides windows and books sends in Redis' time, so it neither alerts again inside another
host's window nor books its sends 40 s into everyone's future."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator

import pytest

from erralert._core.pacing import Rate
from erralert._stores.fleet import Member
from erralert._stores.redis import RedisStore

DINGTALK = (Rate(20, 60.0),)
SKEW = 40.0  # the skewed host's clock is this far ahead
W = 2.0  # short: the claims below pass times up to W ahead, and a check-in (every
# LEASE / 3 s) at such a time would measure the jump as more skew
_names = itertools.count()


@pytest.fixture
def hosts(redis_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """Two members of one service: ``right`` (this host's clock) and ``ahead`` (a host whose
    clock is SKEW seconds ahead: every time it passes is SKEW later)."""
    namespace = f"skew-{next(_names)}"
    made = []
    for host in ("right", "ahead"):
        store = RedisStore(redis_url, namespace=namespace)
        store.join(Member(f"{host}:{namespace}", "shop", host, None, (f"lane-{namespace}",)))
        made.append(store)
    yield made[0], made[1]
    for store in made:
        store.close()


def test_a_host_40_s_ahead_counts_in_the_same_window(
    hosts: tuple[RedisStore, RedisStore], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    right, ahead = hosts
    # its first check-in: it holds the lease, it claims the service's digests
    assert ahead.claim_due(time.time() + SKEW) == []
    t = time.time()
    assert right.hit("k", t, W).alert
    # its clock reads 40 s past the window's end; by the store's the window is fresh
    repeat = ahead.hit("k", time.time() + SKEW, W)
    assert not repeat.alert
    occ = repeat.occurrences
    assert (occ.window_start, occ.window_end) == (t + SKEW, t + W + SKEW)  # in its clock
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "this host's clock is 40." in warning
    assert "ahead of the redis store's" in warning
    # the window ends at the store's t + W, whatever the claiming host's clock says
    assert ahead.claim_due(t + W - 0.5 + SKEW) == []
    (due,) = ahead.claim_due(t + W + 0.5 + SKEW)
    assert (due.key, due.occurrences.count) == ("k", 1)
    assert due.occurrences.window_end == t + W + SKEW  # told in its clock


def test_a_host_40_s_ahead_does_not_book_sends_in_everyones_future(
    hosts: tuple[RedisStore, RedisStore],
) -> None:
    right, ahead = hosts
    t = time.time()
    name = f"lane-{right.namespace}"
    assert right.reserve(name, t, DINGTALK, 60.0) == t
    now_ahead = time.time() + SKEW
    assert ahead.reserve(name, now_ahead, DINGTALK, 60.0) == pytest.approx(now_ahead, abs=0.5)
    # the next send of the right host is not queued 40 s behind the skewed host's
    now = time.time()
    assert right.reserve(name, now, DINGTALK, 60.0) == pytest.approx(now, abs=0.5)


def test_clock_local_trusts_the_hosts_clock(redis_url: str) -> None:
    """``?clock=local``: no correction — a skewed host then decides on its own clock."""
    namespace = f"skew-{next(_names)}"
    right = RedisStore(redis_url, namespace=namespace)
    ahead = RedisStore.from_url(f"{redis_url}?namespace={namespace}&clock=local")
    ahead.join(Member("ahead", "shop", "ahead", None, ()))
    t = time.time()
    try:
        assert right.hit("k", t, W).alert
        assert ahead.hit("k", time.time() + SKEW, W).alert  # past the window, by its clock
    finally:
        right.close()
        ahead.close()
