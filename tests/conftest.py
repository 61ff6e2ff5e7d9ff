from __future__ import annotations

from collections.abc import Iterator

import pytest

import erralert
from tests.receiver import Receiver


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
