from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_erralert_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # the commands read ERRALERT_*: a developer's own settings must not change the outcome
    for name in list(os.environ):
        if name.startswith("ERRALERT_"):
            monkeypatch.delenv(name)
