from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import erralert
from tests.receiver import Receiver

# a directory whose every test carries a marker (pyproject.toml registers the markers; a test
# elsewhere carries its own): tests/e2e/ starts real servers and processes
MARKED_DIRECTORIES = {Path(__file__).resolve().parent / "e2e": "e2e"}
# the fixtures that start a real redis-server (tests/servers.py's redis_server): a test that
# uses one, or is the "redis" case of a parametrised store, is e2e, so the fast tier needs no
# redis-server. A test that starts its own carries the marker itself
REDIS_FIXTURES = frozenset({"redis_url", "broker"})
SLOWER_TIERS = ("slow", "e2e", "browser")


def _starts_redis(item: pytest.Item) -> bool:
    if REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)  # the store fixtures ask for redis_url lazily
    return callspec is not None and "redis" in callspec.params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for directory, marker in MARKED_DIRECTORIES.items():
            if item.path.is_relative_to(directory):
                item.add_marker(marker)
        if _starts_redis(item):
            item.add_marker("e2e")
    if hasattr(config, "workerinput"):
        # under xdist (-n, --dist worksteal), the slower tiers' tests come first: the first
        # worker starts on them (mostly waiting on servers and windows) while the other runs
        # the fast tests, and none is left for last, where it would keep its worker busy
        # long after the other has finished. Every worker collects, and sorts, alike
        items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in SLOWER_TIERS))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _no_default_alerter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without a default alerter and without ERRALERT_* variables."""
    import os

    for key in list(os.environ):
        if key.startswith("ERRALERT_"):
            monkeypatch.delenv(key)
    erralert.close(0.1)
    yield
    erralert.close(0.1)
