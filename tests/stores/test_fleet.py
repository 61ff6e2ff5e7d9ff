"""The fleet (erralert._stores.fleet): check-ins, the claim lease, who posts to which robot —
in the SQLite file and in Redis, and the cadence that keeps a store's idle load flat."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from erralert._stores.fleet import (
    CHECKINS_PER_SECOND,
    LEASE,
    Fleet,
    Member,
    RobotUse,
    Roll,
    RollCall,
    member_of,
)
from erralert._stores.redis import RedisStore
from erralert._stores.sqlite import SQLiteStore

W = 60.0
_names = itertools.count()

Opener = Callable[[str], SQLiteStore | RedisStore]


@pytest.fixture(params=["sqlite", "redis", pytest.param("cluster", marks=pytest.mark.e2e)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a store for a service, as each process of it would, all on one file / server."""
    made: list[SQLiteStore | RedisStore] = []
    tag = next(_names)

    def open_for(service: str) -> SQLiteStore | RedisStore:
        store: SQLiteStore | RedisStore
        if request.param == "sqlite":
            store = SQLiteStore(str(tmp_path / "fleet.db"), namespace=service)
        elif request.param == "cluster":  # the fleet's keys in one slot of a real cluster
            url = request.getfixturevalue("redis_cluster_url")
            store = RedisStore.from_url(url, namespace=f"{service}-{tag}")
        else:
            url = request.getfixturevalue("redis_url")
            store = RedisStore(url, namespace=f"{service}-{tag}")
        made.append(store)
        return store

    yield open_for
    for store in made:
        store.close()


def _member(service: str, *robots: str, host: str = "web-1", release: str = "r1") -> Member:
    return Member(
        id=f"{host}:{next(_names)}", service=service, host=host, release=release, robots=robots
    )


def test_one_process_of_a_service_claims_until_it_leaves(opener: Opener) -> None:
    """The first to check in holds the lease and claims; the other only folds its counts —
    and takes over at its next check-in once the holder has left."""
    first, second = opener("checkout"), opener("checkout")
    lane = f"robot-{next(_names)}"
    first.join(_member("checkout", lane))
    second.join(_member("checkout", lane))
    now = time.time()  # liveness is the store's clock: real time
    assert first.claim_due(now) == []  # checks in: takes the lease
    first.hit("k", now - 2 * W, W)
    first.hit("k", now - 2 * W + 1, W)
    assert second.claim_due(now) == []  # checks in: the lease is taken, so it claims nothing
    (due,) = first.claim_due(now + 0.5)
    assert (due.key, due.occurrences.count) == ("k", 1)
    second.hit("j", now - 2 * W, W)
    second.hit("j", now - 2 * W + 1, W)
    assert second.claim_due(now + 1) == []  # not its turn: no round trip, nothing claimed
    first.close()  # leaves: the lease is free
    later = now + RollCall.period(2) * 1.2  # the second's next check-in is due by then
    assert [d.key for d in second.claim_due(later)] == ["j"]


def test_a_holder_that_stops_checking_in_is_replaced_after_the_lease(opener: Opener) -> None:
    if not isinstance(opener("x"), SQLiteStore):
        pytest.skip("Redis expires the lease on its own clock (PX), which a test cannot advance")
    first, second = opener("billing"), opener("billing")
    first.join(_member("billing"))
    second.join(_member("billing"))
    now = time.time()
    first.claim_due(now)
    second.claim_due(now)
    second.hit("k", now - 2 * W, W)
    second.hit("k", now - 2 * W + 1, W)
    assert second.claim_due(now + LEASE / 2) == []  # the first (silent now) still holds it
    # its check-in at LEASE / 2 found the lease taken; the next comes a period after it
    later = now + LEASE / 2 + max(LEASE, RollCall.period(2)) * 1.2 + 1
    assert [d.key for d in second.claim_due(later)] == ["k"]


def test_robots_say_which_services_and_processes_post_to_them(opener: Opener) -> None:
    shared, own = f"robot-{next(_names)}", f"robot-{next(_names)}"
    stores = []
    for service, host, robots in [
        ("checkout", "web-1", (shared, own)),
        ("checkout", "web-2", (shared,)),
        ("billing", "web-2", (shared,)),
    ]:
        store = opener(service)
        store.join(_member(service, *robots, host=host))
        store.claim_due(time.time())
        stores.append(store)
    use = opener("anyone").robots([shared, own, "nobody"])
    assert use == {
        shared: RobotUse(("billing", "checkout"), processes=3, hosts=2, releases=("r1",)),
        own: RobotUse(("checkout",), processes=1, hosts=1, releases=("r1",)),
    }
    stores[0].close()  # it leaves
    assert opener("anyone").robots([own]) == {}


def test_a_check_in_answers_how_many_share_each_robot(opener: Opener) -> None:
    lane = f"robot-{next(_names)}"
    stores = [opener(service) for service in ("a", "a", "b")]
    for store, service in zip(stores, ("a", "a", "b"), strict=True):
        store.join(_member(service, lane))
        store.claim_due(time.time())
    # the last one's check-in saw all three on the robot: its share in an outage is a third
    assert isinstance(stores[2], Fleet)
    assert stores[2].robots([lane])[lane].processes == 3


def test_a_forked_child_checks_in_as_a_process_of_its_own() -> None:
    roll = RollCall()
    member = member_of("shop", "r1", ["lane"])
    roll.join(member)
    assert roll.check_in_due(0.0) == member
    roll.checked_in(Roll(holds_lease=True, processes=1, robots={"lane": 1}), 0.0)
    assert roll.may_claim(1.0)
    assert member.id.split(":")[1] == str(os.getpid())
    pid = os.fork()
    if pid == 0:  # the child: a new id, due at once, no lease inherited
        child = roll.check_in_due(1.0)
        ok = child is not None and child.id != member.id and not roll.may_claim(1.0)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_check_ins_of_a_service_add_up_to_about_one_a_second() -> None:
    """The cadence keeps a store's idle load flat: a holder renews every LEASE/3 s; the
    others check in every max(LEASE, live processes) s, so n of them make ~1 a second."""
    assert RollCall.period(1) == LEASE
    for processes in (10, 50, 200, 1600):
        others = (processes - 1) / RollCall.period(processes)
        assert others <= CHECKINS_PER_SECOND
    roll = RollCall()
    roll.join(member_of("shop", None, ["lane"]))
    # a first answer, or one that differs from the last: the fleet is starting, look again
    roll.checked_in(Roll(holds_lease=False, processes=49, robots={"lane": 49}), 90.0)
    assert roll.check_in_due(90.0 + 1.5) is None
    assert roll.check_in_due(90.0 + 2.5) is not None
    roll.checked_in(Roll(holds_lease=False, processes=50, robots={"lane": 50}), 92.5)
    assert roll.check_in_due(92.5 + 2.5) is not None
    roll.checked_in(Roll(holds_lease=False, processes=50, robots={"lane": 50}), 100.0)
    assert roll.check_in_due(100.0 + 50 * 0.79) is None  # settled: every 50 s or so
    assert roll.check_in_due(100.0 + 50 * 1.21) is not None
    assert not roll.may_claim(101.0)
    assert roll.sharing("lane") == 50
    assert roll.sharing("other") == 1
    roll.checked_in(Roll(holds_lease=True, processes=50, robots={"lane": 50}), 200.0)
    assert roll.may_claim(200.0 + LEASE * 0.79)
    assert not roll.may_claim(200.0 + LEASE * 0.81)
    assert roll.check_in_due(200.0 + LEASE / 3) is not None


def test_a_store_nobody_joined_claims_on_every_call(opener: Opener) -> None:
    """A store used without an Alerter (a script, a test) is no member: it always claims."""
    store = opener("plain")
    now = time.time()
    store.hit("k", now - 2 * W, W)
    store.hit("k", now - 2 * W + 1, W)
    assert [d.key for d in store.claim_due(now)] == ["k"]
