"""Fixtures of the store tests: one redis-server per module, and one 3-node Redis Cluster
per module for the contract's "cluster" case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from erralert._stores import Store
from tests.redis_servers import redis_cluster
from tests.servers import redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="module")
def redis_cluster_url() -> Iterator[str]:
    """A real 3-node Redis Cluster on 127.0.0.1 (no replicas), as a store URL."""
    with redis_cluster(3) as ports:
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports[:2])


# the cluster case starts servers of its own: e2e (conftest.py marks the "redis" case)
@pytest.fixture(
    params=["memory", "redis", "sqlite", pytest.param("cluster", marks=pytest.mark.e2e)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store in turn (the contract every store keeps); test_redis.py has its own."""
    from tests.stores.test_contract import FACTORIES

    made = FACTORIES[request.param](request, tmp_path)
    yield made
    made.close()
