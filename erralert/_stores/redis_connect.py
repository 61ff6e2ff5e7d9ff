"""The Redis store's client: built from a store URL (``erralert._stores.redis_urls``), or
a ``redis.Redis`` / ``redis.cluster.RedisCluster`` object the app built itself.

A client erralert builds never retries a command (``Retry(NoBackoff(), 0)``): a retried
script whose first attempt did run would count twice, or take the alert it decided for a
repeat. Every command waits at most ``timeout`` seconds, for a connection from a
``max_connections``-bounded pool too. Nothing connects here: a store starts while Redis is
down — a cluster client, which asks its nodes for the slot map as it is built, is built on
first use (``LazyClient``), and until it can be its calls fail as an outage."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any

from erralert._core.errors import ConfigError
from erralert._stores.redis_calls import Script
from erralert._stores.redis_errors import REDIS_ERRORS
from erralert._stores.redis_urls import Target, parse

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry
    from redis.sentinel import Sentinel
except ImportError:  # pragma: no cover - exercised only without the extra installed
    redis = None  # type: ignore[assignment]

__all__ = ["LazyClient", "adopt", "connect", "is_client"]


def connect(url: str, timeout: float) -> Any:
    """The client for a store URL (not connected yet). Raises ``ConfigError``."""
    target = parse(url)
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
        **{k: v for k, v in target.options.items() if not k.startswith("sentinel_")},
        **_tls(target),
    }
    if target.username is not None:
        common["username"] = target.username
    if target.password is not None:
        common["password"] = target.password
    _check(target, common)
    if target.form == "cluster":
        node: Any = ClusterNode  # (untyped in redis-py)
        nodes = [node(host, port) for host, port in target.hosts]
        return LazyClient(lambda: RedisCluster(startup_nodes=nodes, **common))
    if target.form == "sentinel":
        return _sentinel(target, common, timeout)
    (host, port), *_ = target.hosts
    pool_class: Any = redis.ConnectionPool
    if "max_connections" in common:
        # a thread waits (at most `timeout`) for a connection, not failing at once
        pool_class = redis.BlockingConnectionPool
        common["timeout"] = timeout
    if target.tls:
        common["connection_class"] = redis.SSLConnection
    pool = pool_class(host=host, port=port, db=target.db, **common)
    return redis.Redis(connection_pool=pool)


def _check(target: Target, common: dict[str, Any]) -> None:
    """Build (not connect) one connection with these options: redis-py reads them only
    when it connects, and what it refuses must be a ``ConfigError`` now, not an error at
    the first alert."""
    own = {k: v for k, v in common.items() if k not in ("max_connections", "ssl")}
    try:
        (redis.SSLConnection if target.tls else redis.Connection)(**own)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"redis store: {exc} (in {target.masked!r})") from None


def _sentinel(target: Target, common: dict[str, Any], timeout: float) -> Any:
    own: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),  # discovery moves on to the next Sentinel itself
        **{k: v for k, v in common.items() if k.startswith("ssl")},  # TLS: the same
    }
    for name in ("sentinel_username", "sentinel_password"):
        if name in target.options:
            own[name.removeprefix("sentinel_")] = target.options[name]
    from erralert._stores.redis_sentinel import FollowingPool

    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=own, **common)
    return sentinel.master_for(
        target.service or "", db=target.db, connection_pool_class=FollowingPool
    )


def _tls(target: Target) -> dict[str, Any]:
    if not target.tls:
        return {}
    out: dict[str, Any] = {"ssl": True} if target.form != "redis" else {}
    version = target.options.get("ssl_min_version")
    if version is not None:
        out["ssl_min_version"] = ssl.TLSVersion[version]
    return out


class LazyClient:
    """A client built on its first use, and built again after a failed attempt: a
    ``RedisCluster`` connects to its nodes as it is built, which must not stop an app from
    starting while they are down. Until it is built, each use raises a ``ConnectionError``
    saying why (an outage). Attributes are the built client's."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    def built(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._build()
                    except REDIS_ERRORS as exc:
                        # an older redis-py says only RedisClusterException: no node
                        # answered, whatever the class — an outage, not a bug
                        raise redis.ConnectionError(f"redis cluster: {exc}") from exc
                client = self._client
        return client

    def register_script(self, text: str) -> Script:
        """A script run through this client (registering needs no server)."""
        return Script(self, text)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.built(), name)


def is_client(value: object) -> bool:
    """Whether ``value`` is a redis-py client the store can use (``store=`` given one)."""
    if redis is None:
        return False
    return isinstance(value, redis.Redis | RedisCluster)


def adopt(client: Any) -> str:
    """Check a client the app built (a ``ConfigError`` if erralert cannot use it) and
    describe it for logs, without its password. Used as it is, its settings included:
    its own retries (redis-py retries a command that timed out three times by default)
    may run a script twice — see the README."""
    if not is_client(client):
        raise ConfigError(
            f"redis store: expected a redis.Redis or redis.cluster.RedisCluster object, "
            f"got {type(client).__name__}"
        )
    if client.get_encoder().decode_responses:
        raise ConfigError(
            "redis store: the client given decodes responses (decode_responses=True); "
            "erralert reads bytes: pass a client built without it"
        )
    if isinstance(client, RedisCluster):
        nodes = ",".join(f"{n.host}:{n.port}" for n in _cluster_nodes(client)[:3])
        return f"redis+cluster://{nodes}"
    kwargs = client.get_connection_kwargs()
    service = getattr(client.connection_pool, "service_name", None)
    if service is not None:  # a Sentinel-managed client
        return f"redis+sentinel://…/{service}/{kwargs.get('db', 0)}"
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def _cluster_nodes(client: Any) -> list[Any]:
    return list(client.get_nodes())
