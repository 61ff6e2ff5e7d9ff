"""RedisStore: the Lua rules against WindowSlot's, exactly once across "hosts", expiry,
URLs, the outage fallback, and what a hit costs. The window semantics themselves are in
test_contract.py (run against every store)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import random
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from redis.crc import key_slot

from erralert._core.errors import ConfigError
from erralert._grouping.throttle import Throttle
from erralert._stores import open_store
from erralert._stores.base import Batch, Due, Store
from erralert._stores.memory import MemoryStore
from erralert._stores.redis import RedisStore, mask_url_password
from erralert._stores.redis_scripts import script
from erralert._stores.windows import BUCKETS, repeat_in
from tests.samples import event
from tests.servers import free_port, server_process
from tests.stores.redis_commands import commands_sent, names

W = 60.0
T0 = 1_700_000_000.0
_namespaces = itertools.count()


@pytest.fixture
def namespace() -> str:
    return f"test-{next(_namespaces)}"


@pytest.fixture
def store(redis_url: str, namespace: str) -> Iterator[RedisStore]:
    made = RedisStore(redis_url, namespace=namespace)
    yield made
    made.close()


def _dues(dues: list[Due]) -> list[Due]:
    # ties in window_end may come in either order; everything else must be equal
    return sorted(dues, key=lambda d: (d.occurrences.window_end, d.key))


# -- the Lua script against WindowSlot ------------------------------------------------------


@pytest.mark.parametrize("skew", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_lua_rules_match_window_slot(store: RedisStore, seed: int, skew: bool) -> None:
    rng = random.Random(seed)
    reference = MemoryStore()
    windows = {"a": 10.0, "b": 7.3, "c": 0.9, "ü/{x}": 25.0}  # any fingerprint text
    # hosts running different releases (or none known), any text: the history agrees too
    releases = [None, "1.4.2", "1.4.3", 'v2 "ü" {x}']
    # processes on hosts (any text after the pid's @; None: a caller that names none)
    sources = [None, "101@web-1", "102@web-1", "7@web-2", "8@", "9@a@b/ü"]
    now = T0 + rng.random()
    hits = dues = folds = 0
    statuses: set[str] = set()
    every_due: list[Due] = []
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.02:
            now += rng.uniform(20, 80)  # a gap: several windows elapse, some closing empty
        else:
            now += rng.expovariate(4.0)
        key = rng.choice(list(windows))
        # hosts' clocks disagree a little: sometimes a hit is stamped in the past
        when = now - rng.uniform(0, 1.5) if skew and roll > 0.95 else now
        release, source = rng.choice(releases), rng.choice(sources)
        expected = reference.hit(key, when, windows[key], release, source)
        got = store.hit(key, when, windows[key], release, source)
        assert got.alert == expected.alert, (key, when)
        if expected.alert:
            assert got == expected, (key, when)
        else:  # a repeat names the open window, so that a process may count it locally
            # The reference's window: the one that opened at the start Redis names (checked
            # below), `windows[key]` long — every window here opens with that length, and
            # none is cut short (nothing drains or evicts), so it ends at start + length.
            start, length = got.occurrences.window_start, windows[key]
            assert reference.has_window(key, start), (key, when)
            assert got == repeat_in(start, start + length, length), (key, when)
        # the window open now (the reference's, as the asserts above showed)
        window_start, window_end = got.occurrences.window_start, got.occurrences.window_end
        hits += expected.alert
        statuses.add(expected.occurrences.status)
        if rng.random() < 0.1:
            # repeats a process counted locally, folded in on time or late (their window
            # settled meanwhile, or a window that never was: a fingerprint forgotten)
            late = rng.random() < 0.3
            start = window_start - (rng.uniform(1, 30) if late else 0.0)
            end = start + (window_end - window_start)
            n = rng.randint(1, 40)
            histogram = [0] * BUCKETS
            for _ in range(n):
                histogram[rng.randrange(BUCKETS)] += 1
            batch = Batch(
                fold_key := rng.choice(list(windows)),
                start,
                end,
                n,
                start,
                end - 0.1,
                tuple(histogram),
                release=rng.choice(releases),
                source=rng.choice(sources),
            )
            if fold_key != key:
                batch = dataclasses.replace(batch, window_start=start - 3.0)  # surely late
            reference.fold([batch], now)
            store.fold([batch], now)
            folds += 1
        if rng.random() < 0.1:
            # A small limit leaves some ended windows unsettled until the next claim (as
            # SQLite does), where memory settles them all: a hit stamped before such a
            # window's end then counts in it here and in the next window there. So small
            # limits only with honest clocks.
            limit = 1000 if skew else rng.choice([1, 2, 1000])
            expected_dues = reference.claim_due(now, limit)
            got_dues = store.claim_due(now, limit)
            assert _dues(got_dues) == _dues(expected_dues)
            dues += len(got_dues)
            every_due += got_dues
    last = now + 100
    got_dues = store.claim_due(last, 10_000)
    assert _dues(got_dues) == _dues(reference.claim_due(last, 10_000))
    every_due += got_dues
    # the sequence did exercise both paths, every status, and digests from several
    assert statuses == {"new", "new_in_release", "regression", "recurring"}
    assert {(d.occurrences.hosts, d.occurrences.processes) for d in every_due} >= {
        (1, 1),
        (2, 2),
        (3, 4),
    }
    assert hits > 50
    assert dues > 100
    assert folds > 100


@pytest.mark.parametrize("seed", range(2))
def test_lua_origins_match_window_slot_beyond_their_bounds(store: RedisStore, seed: int) -> None:
    # a fleet larger than a window tells apart: 150 processes on 100 hosts, 12 releases
    rng = random.Random(seed)
    reference = MemoryStore()
    sources = [f"{pid}@host-{pid % 100}" for pid in range(150)]
    releases = [f"1.{n}.0" for n in range(12)]
    now, start, end = T0, T0, T0 + W
    for _ in range(1200):
        now += rng.expovariate(4.0)
        source, release = rng.choice(sources), rng.choice(releases)
        if rng.random() < 0.8:
            expected = reference.hit("a", now, W, release, source)
            got = store.hit("a", now, W, release, source)
            assert got.alert == expected.alert
            assert not got.alert or got == expected
            start, end = got.occurrences.window_start, got.occurrences.window_end
            continue
        # counted in a process, folded in on time or after its window was settled
        shift = W if rng.random() < 0.2 else 0.0
        histogram = (3,) + (0,) * (BUCKETS - 1)
        batch = Batch(
            "a",
            start - shift,
            end - shift,
            3,
            start - shift,
            start - shift + 1,
            histogram,
            release=release,
            source=source,
        )
        reference.fold([batch], now)
        store.fold([batch], now)
    got_dues = store.claim_due(now + 2 * W, 10_000)
    assert _dues(got_dues) == _dues(reference.claim_due(now + 2 * W, 10_000))
    fleets = {
        (o.hosts, o.processes, len(o.releases), o.more_hosts, o.more_processes, o.more_releases)
        for o in (due.occurrences for due in got_dues)
    }
    assert (64, 64, 8, True, True, True) in fleets


def test_samples_and_exact_floats_survive_the_round_trip(store: RedisStore) -> None:
    sample = event()
    start = T0 + 0.1  # not representable in 14 digits' worth of Lua tostring
    assert store.hit("k", start, 0.3).alert
    store.put_sample("k", sample)
    assert not store.hit("k", start + 0.1, 0.3).alert
    (due,) = store.claim_due(start + 0.3)
    assert due.sample == sample
    assert due.occurrences.window_start == start
    assert due.occurrences.window_end == start + 0.3
    assert due.occurrences.first_seen == start + 0.1


# -- several hosts ----------------------------------------------------------------------------


def test_two_hosts_alert_exactly_once_and_claim_the_digest_once(
    redis_url: str, namespace: str
) -> None:
    hosts = [RedisStore(redis_url, namespace=namespace) for _ in range(2)]
    barrier = threading.Barrier(len(hosts))
    alerts: list[bool] = []
    dues: list[Due] = []

    def work(host: Store) -> None:
        barrier.wait()
        mine = [host.hit("same", T0 + i * 0.01, W).alert for i in range(200)]
        barrier.wait()  # every host has hit: now both claim at once
        claimed = host.claim_due(T0 + W + 1)
        alerts.extend(mine)  # list.extend is atomic under the GIL
        dues.extend(claimed)

    threads = [threading.Thread(target=work, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert alerts.count(True) == 1
    assert [(d.key, d.occurrences.count, d.occurrences.total) for d in dues] == [("same", 399, 400)]
    assert all(host.claim_due(T0 + 10 * W) == [] for host in hosts)
    assert [host.drain(T0) for host in hosts] == [[], []]
    assert [host.next_due() for host in hosts] == [None, None]
    for host in hosts:
        host.close()


def test_namespaces_are_separate(redis_url: str) -> None:
    one = RedisStore(redis_url, namespace=f"ns-{next(_namespaces)}")
    two = RedisStore(redis_url, namespace=f"ns-{next(_namespaces)}")
    assert one.hit("a", T0, W).alert
    assert two.hit("a", T0, W).alert


# -- keys: one cluster slot, expiry ---------------------------------------------------------


def test_keys_share_a_hash_tag_and_expire(redis_url: str, namespace: str) -> None:
    store = RedisStore(redis_url, namespace=namespace, retention=3600)
    store.hit("a", T0, W)
    store.put_sample("a", event())
    store.hit("a", T0 + 1, W)
    store.hit("a", T0 + W + 1, W)  # settles window 1: a digest is queued
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = sorted(str(k) for k in client.keys("*" + namespace + "*"))
    tag = "{erralert:" + namespace + "}"
    names = ("dueh", "dueq", "dues", "ends", "seq", "w:a")
    assert keys == [f"{tag}:{name}" for name in names]
    for key in keys:
        assert 3590 <= client.ttl(key) <= 3600, key
    slots = {key_slot(key.encode()) for key in keys}
    assert len(slots) == 1
    client.close()
    store.close()


def test_forgotten_after_retention(redis_url: str, namespace: str) -> None:
    store = RedisStore(redis_url, namespace=namespace, retention=1.2)
    assert store.hit("a", T0, W).occurrences.is_new
    time.sleep(1.5)
    assert store.hit("a", T0 + 1, W).occurrences.is_new  # expired: a new error again
    store.close()


# -- URLs -----------------------------------------------------------------------------------


def test_from_url_and_open_store(redis_url: str) -> None:
    store = open_store(f"{redis_url}?namespace=shop&retention=3600&timeout=0.5")
    assert isinstance(store, RedisStore)
    assert (store.namespace, store.retention, store.timeout) == ("shop", 3600.0, 0.5)
    assert store.url == redis_url  # the options are erralert's, not redis-py's
    store.close()
    tls = RedisStore.from_url("rediss://cache.example:6380/2")
    assert tls.namespace == "erralert"
    tls.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://", "needs a host"),
        ("redis://host:notaport/0", "malformed"),
        ("redis://host:6379/zero", "database must be a number"),
        ("redis://host/0?colour=red", "unknown option 'colour'"),
        ("redis://host/0?retention=soon", "retention must be a number"),
        ("redis://host/0?retention=0", "retention must be positive"),
        ("redis://host/0?timeout=-1", "timeout must be positive"),
        ("redis://host/0?namespace=", "namespace"),
        ("redis://host/0?namespace=a{b}", "namespace"),
        ("http://host/0", "not a redis store URL"),
    ],
)
def test_bad_urls_fail_loudly(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RedisStore.from_url(url)


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        RedisStore.from_url("redis://user:s3cret@host:6379/zero")
    assert "s3cret" not in str(info.value)
    assert "user:***@host" in str(info.value)
    assert mask_url_password("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert mask_url_password("redis://host:6379/0") == "redis://host:6379/0"


def test_a_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis → ImportError
    with pytest.raises(ConfigError, match=r"pip install 'erralert\[redis\]'"):
        open_store("redis://localhost:6379/0")


# -- outage ---------------------------------------------------------------------------------


@contextmanager
def _redis_on(port: int) -> Iterator[str]:
    """A redis-server on a given port (to stop one and start another in its place)."""
    argv = [shutil.which("redis-server") or "redis-server", "--port", str(port)]
    argv += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with server_process(argv, port):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.mark.e2e
def test_outage_falls_back_to_memory_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with _redis_on(port):
        store = RedisStore(url, retry_after=0.2, timeout=0.5)
        assert store.hit("a", T0, W).alert
        assert not store.hit("a", T0 + 1, W).alert
    # Redis is gone: the store counts in this process, and says so once
    assert store.hit("b", T0 + 2, W).alert
    assert not store.hit("b", T0 + 3, W).alert
    store.put_sample("b", event())
    assert store.claim_due(T0 + 4) == []
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0]
    assert str(port) in warnings[0]
    time.sleep(0.3)
    assert not store.hit("b", T0 + 4, W).alert  # retried, still down: still in memory
    assert len(caplog.records) == 1
    with _redis_on(port):  # a new, empty server on the same port
        time.sleep(0.3)
        hit = store.hit("c", T0 + 5, W)
        assert hit.alert
        assert hit.occurrences.is_new
        assert not store.hit("c", T0 + 6, W).alert
        assert "reachable again" in caplog.records[-1].getMessage()
        assert len(caplog.records) == 2
        # the fallback's count is handed over (not merged); then Redis' own digests
        (leftover,) = store.claim_due(T0 + 7)
        assert (leftover.key, leftover.occurrences.count) == ("b", 2)
        assert leftover.sample is not None
        assert [(d.key, d.occurrences.count) for d in store.claim_due(T0 + W + 5)] == [("c", 1)]
        # Redis really holds the state again: another "host" sees c's window
        other = RedisStore(url)
        assert not other.hit("c", T0 + 8, W).alert
        other.close()
        store.close()


def test_masked_url_in_the_outage_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    store = RedisStore(f"redis://:s3cret@127.0.0.1:{free_port()}/0", timeout=0.5)
    assert store.hit("a", T0, W).alert  # nothing listens: the fallback answers
    (record,) = caplog.records
    assert "s3cret" not in record.getMessage()
    assert ":***@127.0.0.1" in record.getMessage()
    # drain hands over what only this process knows
    store.hit("a", T0 + 1, W)
    assert [(d.key, d.occurrences.count) for d in store.drain(T0 + 2)] == [("a", 1)]


# -- cost -------------------------------------------------------------------------------------


def _sha(name: str) -> str:
    """The SHA1 the store's ``EVALSHA`` names script ``name`` by."""
    return hashlib.sha1(script(name).encode()).hexdigest()


def test_one_round_trip_per_hit(store: RedisStore, redis_url: str) -> None:
    """A decision is one command sent to Redis (an EVALSHA running the script): counted at
    the server. Its speed is measured in benchmarks/, not asserted here."""
    assert store.hit("hot", T0, W).alert  # the connection is open, the script loaded
    with commands_sent(redis_url) as sent:
        for i in range(100):
            assert not store.hit("hot", T0 + i * 0.01, W).alert
    assert names(sent) == ["EVALSHA"] * 100


def test_a_storm_through_the_throttle_is_a_fold_a_second(store: RedisStore, redis_url: str) -> None:
    """Batching: 3000 repeats over 30 s cost the alert's EVALSHA and one pipelined fold a
    second, and the digest counts every repeat."""
    # what a running process has: its connection open, the scripts loaded on the server
    # (by another namespace's store: this one's windows stay untouched)
    assert store.hit("warm", T0, W).alert
    other = RedisStore(redis_url, namespace=f"warm-{next(_namespaces)}")
    other.fold([Batch("warm", T0, T0 + W, 1, T0, T0, (1,) + (0,) * (BUCKETS - 1))], T0)
    other.close()
    throttle = Throttle(store, W)
    with commands_sent(redis_url) as sent:
        alerts = sum(throttle.hit("hot", T0 + i * 0.01).alert for i in range(3000))
    assert alerts == 1
    hit, fold = f"EVALSHA {_sha('hit')} ", f"EVALSHA {_sha('fold')} "
    folds = sum(command.startswith(fold) for command in sent)
    assert sum(command.startswith(hit) for command in sent) == 1
    assert 25 <= folds <= 31
    assert [c for c in sent if not c.startswith((hit, fold))] == []  # nothing else
    (due,) = throttle.due(T0 + W + throttle.guard)
    assert (due.occurrences.count, due.occurrences.total) == (2999, 3000)


def _batch(key: str, count: int) -> Batch:
    return Batch(key, T0, T0 + W, count, T0 + 1, T0 + 2, (count,) + (0,) * (BUCKETS - 1))


def test_a_fold_is_one_round_trip_of_evalsha_alone(store: RedisStore, redis_url: str) -> None:
    """The batches of a fold go in one pipeline of EVALSHAs: one round trip, no ``SCRIPT
    EXISTS`` before it (redis-py's Script objects ask it before every pipeline)."""
    for key in ("a", "b", "c"):
        assert store.hit(key, T0, W).alert
    store.fold([_batch("a", 1)], T0 + 1)  # the fold script is loaded on the server
    with commands_sent(redis_url) as sent:
        store.fold([_batch("a", 2), _batch("b", 3)], T0 + 3)
    assert names(sent) == ["EVALSHA"] * 2
    assert {command.split(" ")[1] for command in sent} == {_sha("fold")}
    # one round trip: the server read the whole fold at once (its read events, counted
    # between two INFOs of this test's connection, which take one read each)
    client = redis.Redis.from_url(redis_url)
    before = client.info("stats")["total_reads_processed"]
    store.fold([_batch("a", 4), _batch("b", 5), _batch("c", 6)], T0 + 4)
    after = client.info("stats")["total_reads_processed"]
    assert after - before == 2  # the fold's, and the second INFO's
    client.close()
    counts = {d.key: d.occurrences.count for d in store.claim_due(T0 + W)}
    assert counts == {"a": 7, "b": 8, "c": 6}


def test_a_fold_after_the_scripts_were_lost_loads_and_runs_each_batch_once(
    store: RedisStore, redis_url: str
) -> None:
    """A server that lost its scripts (restarted, or a replica promoted by a failover)
    answers NOSCRIPT to each EVALSHA: none ran, so the script is loaded and those batches
    alone are sent again — each counted once, and no outage."""
    for key in ("a", "b"):
        assert store.hit(key, T0, W).alert
    client = redis.Redis.from_url(redis_url)
    client.script_flush()
    with commands_sent(redis_url) as sent:
        store.fold([_batch("a", 2), _batch("b", 5)], T0 + 3)
    assert names(sent) == ["EVALSHA", "EVALSHA", "SCRIPT", "EVALSHA", "EVALSHA"]
    assert sent[2].startswith("SCRIPT LOAD")
    assert not store.outage.active
    client.close()
    counts = {d.key: d.occurrences.count for d in store.claim_due(T0 + W)}
    assert counts == {"a": 2, "b": 5}


def test_services_sharing_a_redis_count_apart(redis_url: str) -> None:
    checkout = open_store(redis_url, service="checkout")
    search = open_store(redis_url, service="search{beta}")
    pinned = open_store(redis_url + "?namespace=shared", service="checkout")
    assert isinstance(checkout, RedisStore)
    assert isinstance(search, RedisStore)
    assert isinstance(pinned, RedisStore)
    assert (checkout.namespace, search.namespace, pinned.namespace) == (
        "checkout",
        "search(beta)",
        "shared",
    )
    key = f"k{time.time()}"
    assert checkout.hit(key, T0, W).alert
    assert search.hit(key, T0, W).alert  # the same fingerprint, another service
    assert not checkout.hit(key, T0 + 1, W).alert


@pytest.mark.e2e
def test_repeats_of_a_redis_window_wait_out_an_outage_and_fold_in_after() -> None:
    """Batching across an outage: repeats counted locally for a window Redis opened are not
    handed to the fallback (which knows neither the window nor its event, and would send
    an unsampled digest a second); they wait, and are folded into Redis when it is back."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with _redis_on(port):
        store = RedisStore(url, retry_after=0.2, timeout=0.5, namespace="deferred")
        throttle = Throttle(store, W)
        assert throttle.hit("a", T0).alert
        store.put_sample("a", event())
        # a Redis server keeps its data across a restart only with persistence; copy it
        dump = redis.Redis.from_url(url).dump("{erralert:deferred}:w:a")
    for i in range(1, 300):  # Redis is down: counted here, folded into... nothing yet
        assert not throttle.hit("a", T0 + i * 0.01).alert
    throttle.fold(T0 + 3.5)
    assert throttle.due(T0 + 4) == []  # no stand-in digest from the fallback
    with _redis_on(port):
        redis.Redis.from_url(url).restore("{erralert:deferred}:w:a", 0, dump)
        time.sleep(0.3)
        (due,) = throttle.due(T0 + W + throttle.guard)  # recovery folds the 299 in first
        assert (due.key, due.occurrences.count, due.occurrences.total) == ("a", 299, 300)
        assert due.sample == event()
        store.close()
