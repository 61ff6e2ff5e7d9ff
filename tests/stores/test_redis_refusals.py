"""A real Redis refusing the store's commands for a while — a primary demoted to a replica
(READONLY), a server out of memory (OOM), one stuck in a long script (BUSY) — is an outage:
the alert is kept and sent (the store counts in the process), one warning names the cause,
and Redis is used again once a probe *write* passes (a replica or a full server answers
PING all along). A server that lost its scripts (NOSCRIPT) is no outage: the script is
loaded and run. An error waiting does not cure (a key of another type) is raised, not
hidden. The classification of every code is in test_redis_errors.py."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator

import pytest
import redis

import erralert
from erralert._stores.base import Batch
from erralert._stores.redis import RedisStore
from erralert.testing import capture_alerts
from tests.servers import redis_server
from tests.stores.redis_commands import commands_sent, names

W = 60.0
T0 = 1_700_000_000.0
# the store probes Redis on (nearly) every call of an outage: no test waits for a retry
PROBE_AT_ONCE = 1e-6
_namespaces = itertools.count()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Until ``condition()`` holds (a server's state changing), at most ``timeout`` s."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError(f"{what}: not after {timeout} s")


@pytest.fixture
def namespace() -> str:
    return f"refusal-{next(_namespaces)}"


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    yield client
    client.close()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.e2e
def test_a_primary_demoted_to_a_replica_is_an_outage_until_it_is_promoted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    with redis_server() as url, redis_server() as other_url:
        admin = redis.Redis.from_url(url, socket_timeout=10)
        other = redis.Redis.from_url(other_url)
        store = RedisStore(url, namespace="demoted", retry_after=PROBE_AT_ONCE)
        assert store.hit("before", T0, W).alert
        # a failover elsewhere made this server a replica of the other one
        port = other.connection_pool.connection_kwargs["port"]
        admin.replicaof("127.0.0.1", port)
        wait_for(lambda: admin.info("replication")["master_link_status"] == "up", "replication")
        assert admin.ping()  # it answers; it only refuses writes
        alerter = erralert.Alerter(["webhook+http://127.0.0.1:9/x"], window=W)
        try:
            with capture_alerts(store=store) as alerts:
                alerter.capture_message("payment gateway timed out")
                alerter.capture_message("payment gateway timed out")
            assert [a.kind for a in alerts] == ["alert"]
            assert "payment gateway timed out" in alerts[0].title
        finally:
            alerter.close(0.1)
        assert store.outage.active
        assert store.hit("during", T0 + 1, W).alert  # counted in the process
        assert not store.hit("during", T0 + 2, W).alert
        assert store.outage.active  # every call probed with a write: still refused
        (warning,) = warnings_of(caplog)
        assert "refusing commands (READONLY: You can't write against a read only replica" in (
            warning
        )
        admin.replicaof("NO", "ONE")  # promoted again
        assert store.hit("after", T0 + 3, W).alert
        assert not store.outage.active
        assert "reachable again" in warnings_of(caplog)[-1]
        # the counts kept in the process are handed over as digests (the Alerter's too)
        leftover = {d.key: d.occurrences.count for d in store.claim_due(T0 + 4)}
        assert leftover["during"] == 1
        assert len(leftover) == 2
        # Redis holds the state again: another process sees the window opened after
        assert not RedisStore(url, namespace="demoted").hit("after", T0 + 5, W).alert
        store.close()
        admin.close()
        other.close()


def test_a_server_out_of_memory_is_an_outage_until_it_has_room(
    redis_url: str, admin: redis.Redis, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    store = RedisStore(redis_url, namespace=namespace, retry_after=PROBE_AT_ONCE)
    assert store.hit("a", T0, W).alert
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        assert admin.ping()  # a PING would say all is well
        # repeats of a's window, counted in the process: each script of the pipeline is
        # refused, so they wait for Redis
        store.fold([Batch("a", T0, T0 + W, 3, T0 + 1, T0 + 2, (3,) + (0,) * 9)], T0 + 2)
        assert store.outage.active
        assert store.hit("b", T0 + 1, W).alert
        assert not store.hit("b", T0 + 2, W).alert
        (warning,) = warnings_of(caplog)
        assert "refusing commands (OOM: command not allowed when used memory" in warning
    finally:
        admin.config_set("maxmemory", 0)
    assert store.hit("c", T0 + 4, W).alert  # the outage ends: a's repeats are folded in
    assert not store.outage.active
    (leftover,) = store.claim_due(T0 + 5)  # the fallback's count
    assert (leftover.key, leftover.occurrences.count) == ("b", 1)
    (due,) = store.claim_due(T0 + W)
    assert (due.key, due.occurrences.count, due.occurrences.total) == ("a", 3, 4)
    store.close()


def test_a_server_busy_in_a_long_script_is_an_outage_until_it_is_free(
    redis_url: str, admin: redis.Redis, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    store = RedisStore(redis_url, namespace=namespace, retry_after=PROBE_AT_ONCE)
    assert store.hit("a", T0, W).alert
    threshold = admin.config_get("busy-reply-threshold")["busy-reply-threshold"]
    admin.config_set("busy-reply-threshold", 50)  # ms before other clients get BUSY
    looping = redis.Redis.from_url(redis_url, socket_timeout=30)
    ended: list[str] = []

    def loop() -> None:  # someone else's runaway script (read-only: SCRIPT KILL ends it)
        try:
            looping.eval("while true do redis.call('TIME') end", 0)
        except redis.ResponseError as exc:
            ended.append(str(exc))

    thread = threading.Thread(target=loop)
    thread.start()
    probe = redis.Redis.from_url(redis_url, socket_timeout=30)

    def busy() -> bool:
        try:
            probe.ping()
        except redis.ResponseError as exc:
            return str(exc).startswith("BUSY")
        return False

    try:
        wait_for(busy, "the server is busy")
        assert store.hit("b", T0 + 1, W).alert
        assert store.outage.active
        (warning,) = warnings_of(caplog)
        assert "refusing commands (BUSY: BUSY Redis is busy running a script" in warning
    finally:
        wait_for(lambda: _killed(probe), "SCRIPT KILL")
        thread.join(30)
        admin.config_set("busy-reply-threshold", threshold)
        looping.close()
        probe.close()
    assert ended
    assert "killed" in ended[0].lower()
    assert store.hit("c", T0 + 2, W).alert
    assert not store.outage.active
    store.close()


def _killed(client: redis.Redis) -> bool:
    try:
        client.script_kill()
    except redis.ResponseError as exc:  # NOTBUSY: no script runs any more
        return "NOTBUSY" in str(exc)
    return False


def test_a_lost_script_cache_is_loaded_again_not_an_outage(
    store_in: Callable[[str], RedisStore], redis_url: str, admin: redis.Redis
) -> None:
    store = store_in(redis_url)
    assert store.hit("a", T0, W).alert
    admin.script_flush()  # as after a restart, or a failover to a fresh replica
    with commands_sent(redis_url) as sent:
        assert store.hit("b", T0 + 1, W).alert
    assert names(sent) == ["EVALSHA", "SCRIPT", "EVALSHA"]  # NOSCRIPT, LOAD, run
    assert not store.outage.active
    assert not store.hit("b", T0 + 2, W).alert  # counted in Redis


def test_an_error_waiting_does_not_cure_is_raised_not_hidden(
    store_in: Callable[[str], RedisStore], redis_url: str, admin: redis.Redis
) -> None:
    store = store_in(redis_url)
    admin.set("{erralert:" + store.namespace + "}:w:a", "not a hash")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.hit("a", T0, W)
    assert not store.outage.active


@pytest.fixture
def store_in(namespace: str) -> Iterator[Callable[[str], RedisStore]]:
    made: list[RedisStore] = []

    def make(url: str) -> RedisStore:
        made.append(RedisStore(url, namespace=namespace))
        return made[-1]

    yield make
    for store in made:
        store.close()
