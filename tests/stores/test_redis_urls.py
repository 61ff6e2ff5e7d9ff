"""The Redis store's URL forms and connection options, read and checked at configuration
time (a ConfigError naming the culprit, its secrets masked), and the client each form
builds — without connecting: a store starts while Redis is down. Real servers of every
form are in test_redis_forms.py."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
import redis
from redis.retry import Retry

import erralert
from erralert._core.errors import ConfigError
from erralert._stores import open_store
from erralert._stores.redis import RedisStore
from erralert._stores.redis_connect import LazyClient, connect
from erralert._stores.redis_errors import REDIS_ERRORS, outage_cause
from erralert._stores.redis_urls import Target, mask_url_password, parse
from tests.servers import free_port

T0 = 1_700_000_000.0


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")  # read only when connecting
    return path


def retries(retry: Retry) -> int:
    """How many times ``retry`` runs a command again (redis-py < 6 has no getter)."""
    if hasattr(retry, "get_retries"):
        return int(retry.get_retries())
    return int(retry._retries)


# -- the forms --------------------------------------------------------------------------------


def test_one_server() -> None:
    target = parse("redis://user:p%40ss@cache.internal:6380/3")
    assert (target.form, target.tls, target.hosts, target.db) == (
        "redis",
        False,
        (("cache.internal", 6380),),
        3,
    )
    assert (target.username, target.password) == ("user", "p@ss")
    assert parse("rediss://cache.internal").hosts == (("cache.internal", 6379),)
    assert parse("rediss://cache.internal").tls
    assert parse("redis://[::1]:7000/0").hosts == (("::1", 7000),)
    assert parse("redis://:secret@h").password == "secret"


def test_sentinel() -> None:
    target = parse("redis+sentinel://:pw@s1:26380,s2,[::1]/mymaster/2?sentinel_password=x")
    assert target.form == "sentinel"
    assert target.hosts == (("s1", 26380), ("s2", 26379), ("::1", 26379))
    assert (target.service, target.db, target.password) == ("mymaster", 2, "pw")
    assert target.options == {"sentinel_password": "x"}
    assert parse("redis+sentinel://s1/mymaster").db == 0
    assert parse("rediss+sentinel://s1/mymaster").tls


def test_cluster() -> None:
    target = parse("redis+cluster://n1:7000,n2:7001,n3")
    assert target.form == "cluster"
    assert target.hosts == (("n1", 7000), ("n2", 7001), ("n3", 6379))
    assert parse("rediss+cluster://n1/0").tls


@pytest.mark.parametrize(
    ("alias", "same"),
    [
        ("valkey://h:1/2", "redis://h:1/2"),
        ("valkeys://h:1/2", "rediss://h:1/2"),
        ("valkey+sentinel://h/svc", "redis+sentinel://h/svc"),
        ("valkeys+cluster://h", "rediss+cluster://h"),
    ],
)
def test_valkey_is_an_alias(alias: str, same: str) -> None:
    def meaning(target: Target) -> tuple[object, ...]:
        return (target.form, target.tls, target.hosts, target.db, target.service)

    assert meaning(parse(alias)) == meaning(parse(same))


def test_options_are_read(pem: Path, tmp_path: Path) -> None:
    url = (
        f"rediss://h/0?ssl_ca_certs={pem}&ssl_ca_path={tmp_path}&ssl_cert_reqs=optional"
        f"&ssl_check_hostname=false&max_connections=8&health_check_interval=15"
        f"&client_name=checkout&socket_keepalive=yes&ssl_min_version=TLSv1_3"
        f"&ssl_ciphers=ECDHE+AESGCM&ssl_password=k3y"
    )
    assert parse(url).options == {
        "ssl_ca_certs": str(pem),
        "ssl_ca_path": str(tmp_path),
        "ssl_cert_reqs": "optional",
        "ssl_check_hostname": False,
        "max_connections": 8,
        "health_check_interval": 15.0,
        "client_name": "checkout",
        "socket_keepalive": True,
        "ssl_min_version": "TLSv1_3",
        "ssl_ciphers": "ECDHE AESGCM",  # a query's "+" is a space: write %2B
        "ssl_password": "k3y",
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://", "needs a host"),
        ("redis://h1,h2/0", r"names one server, got 2 .*redis\+sentinel://.*redis\+cluster://"),
        ("redis://h:99999/0", "port 99999"),
        ("redis://h/0/1", "path"),
        ("redis+sentinel://s1", "names its service"),
        ("redis+sentinel://s1/svc/db", "database must be a number"),
        ("redis+cluster://n1/3", "database 0 only"),
        ("redis://h/0?max_connections=0", "max_connections='0' must be at least 1"),
        ("redis://h/0?max_connections=many", "max_connections='many'"),
        ("redis://h/0?ssl_ca_certs=/x.pem", r"'ssl_ca_certs' needs TLS \(rediss://"),
        ("rediss://h/0?ssl_ca_certs=/nonexistent.pem", "no such file: '/nonexistent.pem'"),
        ("rediss://h/0?ssl_cert_reqs=maybe", "must be one of none, optional, required"),
        ("rediss://h/0?ssl_check_hostname=perhaps", "must be true or false"),
        ("redis://h/0?sentinel_password=x", "'sentinel_password' is for sentinel URLs"),
        ("redis://h/0?db=2", "unknown option 'db'"),
        ("rediss://h/0?ssl_ca_cert=/x.pem", "unknown option 'ssl_ca_cert'"),
        ("unix:///run/redis.sock", "not a redis store URL"),
    ],
)
def test_bad_urls_name_the_culprit(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RedisStore.from_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:s3cret@h/zero",
        "redis+sentinel://:s3cret@s1,s2/svc/zero",
        "redis+cluster://:s3cret@n1/zero",
        "rediss://h/0?ssl_password=s3cret&colour=red",
        "rediss://h/0?ssl_password=s3cret&ssl_cert_reqs=maybe",
        "redis+sentinel://s1/svc?sentinel_password=s3cret&max_connections=-1",
        "redis+sentinel://s1/svc?sentinel_password=",  # an empty secret: still not shown
    ],
)
def test_secrets_never_appear_in_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        RedisStore.from_url(url)
    assert "s3cret" not in str(info.value)
    assert "***" in str(info.value)


def test_masking() -> None:
    assert mask_url_password("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url_password("redis://h:6379/0") == "redis://h:6379/0"
    assert (
        mask_url_password("redis+sentinel://u:s3cret@a:1,b:2/svc?sentinel_password=x&max_connections=2")
        == "redis+sentinel://u:***@a:1,b:2/svc?sentinel_password=***&max_connections=2"
    )  # fmt: skip
    assert mask_url_password("rediss://h/0?ssl_password=x") == "rediss://h/0?ssl_password=***"


# -- the clients, built without connecting ----------------------------------------------------


def test_one_server_client() -> None:
    client = connect("redis://:pw@127.0.0.1:6390/4?client_name=checkout", timeout=1.5)
    assert isinstance(client, redis.Redis)
    kwargs = client.get_connection_kwargs()
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "127.0.0.1",
        6390,
        4,
        "pw",
    )
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (1.5, 1.5)
    assert kwargs["client_name"] == "checkout"
    assert retries(kwargs["retry"]) == 0  # never a command run twice
    assert client.connection_pool.connection_class is redis.Connection


def test_tls_client(pem: Path) -> None:
    url = f"rediss://h:6390/0?ssl_ca_certs={pem}&ssl_check_hostname=false&ssl_min_version=TLSv1_3"
    client = connect(url, timeout=2.0)
    assert client.connection_pool.connection_class is redis.SSLConnection
    kwargs = client.get_connection_kwargs()
    assert kwargs["ssl_ca_certs"] == str(pem)
    assert kwargs["ssl_check_hostname"] is False
    assert kwargs["ssl_min_version"] is ssl.TLSVersion.TLSv1_3


def test_max_connections_waits_for_a_free_connection() -> None:
    client = connect("redis://h/0?max_connections=4", timeout=2.5)
    pool = client.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (4, 2.5)


def test_sentinel_client() -> None:
    url = "redis+sentinel://:pw@127.0.0.1:26390,127.0.0.1:26391/mymaster/1?sentinel_password=sp"
    client = connect(url, timeout=1.0)
    assert isinstance(client, redis.Redis)
    pool = client.connection_pool
    assert pool.service_name == "mymaster"
    kwargs = client.get_connection_kwargs()
    assert (kwargs["db"], kwargs["password"], retries(kwargs["retry"])) == (1, "pw", 0)
    sentinels = pool.sentinel_manager.sentinels
    assert [s.get_connection_kwargs()["port"] for s in sentinels] == [26390, 26391]
    assert {s.get_connection_kwargs()["password"] for s in sentinels} == {"sp"}


def test_a_cluster_client_is_built_on_first_use() -> None:
    """RedisCluster asks its nodes for the slot map as it is built: the store must start
    while they are down, and count in the process until they answer."""
    port = free_port()
    client = connect(f"redis+cluster://127.0.0.1:{port}", timeout=0.5)
    assert isinstance(client, LazyClient)
    with pytest.raises(REDIS_ERRORS) as info:
        client.ping()
    assert outage_cause(info.value) is not None


def test_a_store_on_a_cluster_that_is_down_starts_and_counts_in_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="erralert")
    store = RedisStore.from_url(f"redis+cluster://127.0.0.1:{free_port()}?timeout=0.5")
    assert store.hit("a", T0, 60.0).alert
    assert not store.hit("a", T0 + 1, 60.0).alert
    assert store.outage.active
    (record,) = caplog.records
    assert "is unreachable" in record.getMessage()
    store.close()


# -- a client the app built -------------------------------------------------------------------


def test_a_client_object_is_a_store_namespaced_by_the_service() -> None:
    client = redis.Redis(host="127.0.0.1", port=6390, db=2, password="s3cret")
    store = open_store(client, service="checkout{eu}")
    assert isinstance(store, RedisStore)
    assert store.namespace == "checkout(eu)"
    assert store.url == "redis://127.0.0.1:6390/2"  # no password
    assert "s3cret" not in repr(store.outage.url)


def test_a_client_that_decodes_responses_is_refused() -> None:
    with pytest.raises(ConfigError, match="decode_responses=True"):
        open_store(redis.Redis(decode_responses=True), service="shop")


def test_other_objects_are_still_refused() -> None:
    with pytest.raises(ConfigError, match="expected a URL or a Store object, got dict"):
        open_store({"host": "redis"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"expected a redis\.Redis"):
        RedisStore(object())


# -- the README's example, run as written -----------------------------------------------------


def test_the_readme_example_of_a_client_object() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Redis: TLS, Sentinel, Cluster, failovers", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)  # nothing connects: no server needed
    alerter = scope["alerter"]
    assert isinstance(alerter, erralert.Alerter)
    client = scope["client"]
    assert isinstance(client, redis.Redis)
    assert retries(client.get_retry()) == 0
    store = open_store(client, service="checkout")
    assert isinstance(store, RedisStore)
    assert store.namespace == "checkout"
    assert alerter.close(1)
