"""Stores keep the throttle's state: which fingerprints have an open window, how many
repeats it holds, and what is due. ``open_store`` turns the ``store=`` option into one."""

from __future__ import annotations

import inspect
import sys
from typing import Any, TypeAlias

from erralert._core.errors import ConfigError
from erralert._stores.base import Due, Hit, Silenced, Store
from erralert._stores.redis_urls import SCHEMES as _REDIS_SCHEMES

__all__ = ["Due", "Hit", "Silenced", "Store", "StoreSpec", "open_store", "takes"]

# What ``store=`` takes: a URL, a ``Store``, or a redis-py client the app built
# (``redis.Redis``, ``redis.cluster.RedisCluster``: Any, as the redis package is optional),
# checked by ``open_store``.
StoreSpec: TypeAlias = str | Store | Any


def open_store(spec: StoreSpec, *, service: str | None = None) -> Store:
    """``"memory://"`` (default), ``"sqlite:///path/file.db"`` (shared by the processes of
    one host), ``"redis://host:6379/0"`` (shared by every host of a service; needs
    ``erralert[redis]``; Sentinel, Cluster, TLS and Valkey URLs: see
    ``erralert._stores.redis_urls``), a ``Store`` object, or a ``redis.Redis`` /
    ``RedisCluster`` object (a Redis store over it). A shared store's windows and counts are
    namespaced by ``service`` unless the URL names a ``?namespace=``: two services sharing
    one file or one Redis must not count each other's errors. Their channels' budgets and
    storm summaries are not: a robot's rate limit is the robot's, whoever posts to it."""
    if not isinstance(spec, str):
        if isinstance(spec, Store):
            _check_parameters(spec)
            return spec
        redis_client = _as_redis_store(spec, service)
        if redis_client is not None:
            return redis_client
        missing = sorted(
            name
            for name in dir(Store)
            if not name.startswith("_")
            and callable(getattr(Store, name, None))
            and not callable(getattr(spec, name, None))
        )
        lacks = f" (it lacks {', '.join(missing)})" if missing and len(missing) < 8 else ""
        raise ConfigError(
            f"store: expected a URL or a Store object, got {type(spec).__name__}{lacks}"
        )
    scheme = spec.split(":", 1)[0].lower() if ":" in spec else ""
    if scheme == "memory":
        from erralert._stores.memory import MemoryStore

        return MemoryStore.from_url(spec)
    if scheme == "sqlite":
        from erralert._stores.sqlite import SQLiteStore

        return SQLiteStore.from_url(spec, namespace=service)
    if scheme in _REDIS_SCHEMES:
        try:
            import redis  # noqa: F401  (only to fail early with the fix, not deep inside)
        except ImportError:
            raise ConfigError(
                f"store {scheme}:// needs the redis package: pip install 'erralert[redis]'"
            ) from None
        from erralert._stores.redis import RedisStore

        return RedisStore.from_url(spec, namespace=_namespace(service))
    raise ConfigError(
        f"store: unknown store URL {spec!r} (expected memory://, sqlite:///file.db or "
        f"redis://host:6379/0)"
    )


def _namespace(service: str | None) -> str | None:
    # braces would break the keys' hash tag: a service name is not the place to fail
    return service.replace("{", "(").replace("}", ")") if service else None


def _as_redis_store(spec: object, service: str | None) -> Store | None:
    """A ``RedisStore`` around ``spec`` when it is a redis-py client (``redis.Redis``,
    ``RedisCluster``), namespaced by ``service``; None when it is not one."""
    if "redis" not in sys.modules:  # no redis-py client can exist without it imported
        return None
    from erralert._stores.redis_connect import is_client

    if not is_client(spec):
        return None
    from erralert._stores.redis import RedisStore

    return RedisStore(spec, namespace=_namespace(service) or "erralert")


# keyword parameters the protocol's methods gained since it was first published: a store
# written against an earlier protocol would fail on every capture or claim, not at start-up
_ADDED_PARAMETERS = {"hit": "release", "claim_storm": "followups"}


def takes(store: object, method: str, parameter: str) -> bool | None:
    """Whether ``store.method`` takes the keyword ``parameter``; None when its signature
    cannot be read (a builtin or C method). Parameters added later than those above are
    passed only to a store that takes them (``hit``'s ``source=``, see
    ``erralert._grouping.throttle``): a store written before them keeps working, without
    what they carry."""
    try:
        signature = inspect.signature(getattr(store, method))
    except (TypeError, ValueError):
        return None
    params = signature.parameters.values()
    return parameter in signature.parameters or any(p.kind is p.VAR_KEYWORD for p in params)


def _check_parameters(store: Store) -> None:
    """Refuse, naming it, a store object whose methods lack a parameter erralert passes."""
    for method, parameter in _ADDED_PARAMETERS.items():
        if takes(store, method, parameter) is not False:  # None: nothing to read, trust it
            continue
        raise ConfigError(
            f"store: {type(store).__name__}.{method}() takes no {parameter}= argument: it "
            f"was written for an earlier erralert (see erralert._stores.base.Store)"
        )
