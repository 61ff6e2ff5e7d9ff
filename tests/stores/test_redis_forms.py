"""Every form of Redis store against a real server of that form on 127.0.0.1: TLS with a
certificate authority made for the test (and client certificates), a Sentinel (and how
a Sentinel store follows a new primary), a Cluster, the valkey:// alias, and client
objects the app built itself. What is checked
each time: an alert, a repeat counted in Redis (seen by a second store, as another host
would), a fold, and the digest claimed once. The store contract suite runs against a
cluster too (test_contract.py, its "cluster" case)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from freezegun import freeze_time
from redis.cluster import ClusterNode, RedisCluster

import erralert
from erralert._stores import Store, open_store
from erralert._stores.base import Batch
from erralert._stores.redis import RedisStore
from erralert._stores.redis_sentinel import FollowingPool
from erralert.testing import capture_alerts
from tests.redis_servers import (
    Authority,
    make_authority,
    redis_cluster,
    sentinel_pair,
    tls_redis_server,
)
from tests.servers import redis_server

pytestmark = pytest.mark.e2e

W = 60.0
T0 = 1_700_000_000.0
_namespaces = itertools.count()


def shares_windows(one: Store, other: Store) -> None:
    """``one`` and ``other`` (two processes on the same Redis) count in one window: one
    alert, repeats from both (one of them folded), one digest claimed once."""
    key = f"k{next(_namespaces)}"
    assert one.hit(key, T0, W).alert
    assert not other.hit(key, T0 + 1, W).alert
    other.fold([Batch(key, T0, T0 + W, 5, T0 + 2, T0 + 3, (5,) + (0,) * 9)], T0 + 4)
    (due,) = one.claim_due(T0 + W)
    assert (due.key, due.occurrences.count, due.occurrences.total) == (key, 6, 7)
    assert other.claim_due(T0 + W) == []


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("tls"))


# -- TLS --------------------------------------------------------------------------------------


def test_rediss_with_a_private_certificate_authority(authority: Authority) -> None:
    with tls_redis_server(authority) as port:
        url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={authority.ca}&max_connections=4"
        one = open_store(url, service="tls")
        other = open_store(url, service="tls")
        assert isinstance(one, RedisStore)
        shares_windows(one, other)
        assert not one.outage.active
        one.close()
        other.close()


def test_client_certificates(authority: Authority) -> None:
    with tls_redis_server(authority, client_certificates=True) as port:
        base = f"rediss://localhost:{port}/0?ssl_ca_certs={authority.ca}"
        # the server's certificate names localhost and 127.0.0.1; it serves as the
        # client's own here (signed by the CA the server trusts)
        mine = f"&ssl_certfile={authority.cert}&ssl_keyfile={authority.key}"
        store = RedisStore.from_url(base + mine + "&namespace=mtls")
        other = RedisStore.from_url(base + mine + "&namespace=mtls")
        shares_windows(store, other)
        store.close()
        other.close()
        anonymous = RedisStore.from_url(base + "&namespace=mtls&timeout=1")
        assert anonymous.hit("a", T0, W).alert  # refused: counted in the process
        assert anonymous.outage.active


def test_a_certificate_from_another_authority_is_an_outage_logged_not_a_crash(
    authority: Authority, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    stranger = make_authority(tmp_path, "other-ca")
    with tls_redis_server(authority) as port:
        url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={stranger.ca}&timeout=1"
        alerter = erralert.Alerter(["webhook+http://127.0.0.1:9/x"], window=W)
        store = open_store(url, service="wrong-ca")
        assert isinstance(store, RedisStore)
        try:
            with capture_alerts(store=store) as alerts:
                alerter.capture_message("inventory sync failed")
            assert [a.kind for a in alerts] == ["alert"]  # the alert is kept and sent
        finally:
            alerter.close(0.1)
        assert store.outage.active
        (record,) = caplog.records
        assert "is unreachable (ConnectionError" in record.getMessage()
        assert "CERTIFICATE_VERIFY_FAILED" in record.getMessage()
        store.close()


# -- Sentinel, Cluster, Valkey ----------------------------------------------------------------


def test_sentinel() -> None:
    with sentinel_pair() as watched:
        url = f"redis+sentinel://127.0.0.1:{watched.sentinel}/{watched.service}/0"
        one = open_store(url, service="sentinel")
        other = open_store(url, service="sentinel")
        shares_windows(one, other)
        # the store talks to the primary the Sentinel names
        primary = redis.Redis(port=watched.primary)
        assert primary.exists("{erralert:sentinel}:seq")
        primary.close()
        one.close()
        other.close()


def test_cluster_url_and_object() -> None:
    with redis_cluster(3) as ports:
        url = f"redis+cluster://127.0.0.1:{ports[1]}"
        built = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", ports[0])])
        # namespaces whose keys live on different nodes: each store still touches one slot
        for n in range(6):
            by_url = open_store(url, service=f"svc{n}")
            by_object = open_store(built, service=f"svc{n}")
            assert isinstance(by_object, RedisStore)
            assert by_object.url.startswith("redis+cluster://127.0.0.1:")
            shares_windows(by_url, by_object)
            by_url.close()
        nodes = {built.keyslot(f"{{erralert:svc{n}}}:seq") for n in range(6)}
        assert len({built.nodes_manager.get_node_from_slot(s).port for s in nodes}) > 1
        built.close()


def test_valkey_alias() -> None:
    with redis_server() as url:
        alias = url.replace("redis://", "valkey://")
        shares_windows(open_store(alias, service="vk"), open_store(url, service="vk"))


# -- a client the app built -------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[str]:
    with redis_server() as url:
        yield url


def test_a_redis_object_passed_as_store(server: str) -> None:
    client = redis.Redis.from_url(server)
    assert isinstance(open_store(client, service="app"), RedisStore)
    alerter = erralert.Alerter(["webhook+http://127.0.0.1:9/x"], store=client, service="app")
    try:
        assert alerter.capture_message("ledger out of balance") is not None
        # the Alerter counted in that Redis, namespaced by its service
        assert len(client.keys("{erralert:app}:w:*")) == 1
    finally:
        alerter.close(0.1)
    client.close()


# -- a Sentinel store follows the primary within a second ------------------------------------


class Sentinels:
    """Stands in for redis-py's ``Sentinel`` (what a pool asks of it: the primary's
    address), so that the test decides when the primary changes."""

    def __init__(self, primary: tuple[str, int]) -> None:
        self.primary = primary

    def discover_master(self, service: str) -> tuple[str, int]:
        return self.primary


def test_a_sentinel_store_follows_a_new_primary_within_a_second() -> None:
    """After a failover that left the old primary alive, it takes writes until the
    Sentinels demote it (up to 10 s; lost with its data set then): the store asks the
    Sentinels every second, and moves to the new primary at once."""
    with redis_server() as one_url, redis_server() as two_url:
        one, two = redis.Redis.from_url(one_url), redis.Redis.from_url(two_url)
        address = ("127.0.0.1", int(one.connection_pool.connection_kwargs["port"]))
        new_address = ("127.0.0.1", int(two.connection_pool.connection_kwargs["port"]))
        sentinels = Sentinels(address)
        with freeze_time("2026-01-01 00:00:00") as frozen:
            pool = FollowingPool("svc", sentinels)
            client = redis.Redis(connection_pool=pool)
            client.set("k", "first")
            sentinels.primary = new_address  # a failover
            frozen.tick(0.5)
            client.set("k", "second")  # asked half a second ago: still the old one
            frozen.tick(0.6)
            client.set("k", "third")  # a second since: asked again, moved
        assert (one.get("k"), two.get("k")) == (b"second", b"third")
        for c in (client, one, two):
            c.close()
