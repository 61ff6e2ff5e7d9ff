"""Fixtures of the store tests: one redis-server per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from erralert._stores import Store
from tests.servers import redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store in turn (the contract every store keeps); test_redis.py has its own."""
    from tests.stores.test_contract import FACTORIES

    made = FACTORIES[request.param](request, tmp_path)
    yield made
    made.close()
