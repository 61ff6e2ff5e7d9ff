from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from erralert.inbox import InboxStore, create_app

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC: the inbox's clock in app-level tests


class Clock:
    """The inbox's clock, moved by hand (rate windows, signature times)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store() -> Iterator[InboxStore]:
    s = InboxStore(":memory:")
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(store: InboxStore, clock: Clock) -> Callable[..., TestClient]:
    def make(**options: Any) -> TestClient:
        return TestClient(create_app(store, clock=clock, **options))

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


_TAGS = re.compile(r"<[^>]*>")


def text_of(fragment: str) -> str:
    """What a reader sees of an HTML fragment (tags dropped, entities decoded, U+200B gone)."""
    return html.unescape(_TAGS.sub(" ", fragment)).replace("\u200b", "")
