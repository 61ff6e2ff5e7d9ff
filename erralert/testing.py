"""Helpers for the tests of apps that use erralert.

>>> with erralert.testing.capture_alerts() as alerts:
...     client.get("/boom")
>>> [a.kind for a in alerts]
['alert']
>>> alerts[0].payload["text"]
'...'

Each ``with`` block counts from scratch, so every test that provokes an error sees its
alert, and nothing a block captured is ever sent — not during the test, not as a digest
when the process exits.

``capture_alerts`` hands each alerter's notices to a ``Sink`` of its own through
``Alerter.recording(sink_for)``: any object with a ``submit(notice)`` method can take them
the same way.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from erralert._alerter.alerter import Alerter
from erralert._core.notice import Notice
from erralert._delivery.sink import Sink
from erralert._stores import Store
from erralert.channels.base import Message

__all__ = ["CapturedAlert", "Sink", "capture_alerts"]


@dataclass(frozen=True, slots=True)
class CapturedAlert:
    """One message that would have been sent to one channel."""

    channel: str  # the channel's name (masked URL or ?name=)
    platform: str
    kind: str  # "alert" | "digest" | "storm"
    title: str
    body: str
    message: Message
    notice: Notice
    request: httpx.Request | None  # the exact request (None for local channels)
    payload: Any  # the request's JSON body, parsed (None for local channels)


class _Recorder:
    """A ``Sink``: one alerter's notices, rendered for each of their channels, kept."""

    def __init__(self, source: Alerter, captured: list[CapturedAlert], lock: threading.Lock):
        self._source = source
        self._captured = captured
        self._lock = lock

    def submit(self, notice: Notice) -> None:
        for channel, message in self._source.render(notice):  # the channels routing chose
            request = None if channel.local else channel.build_request(message)
            payload = json.loads(request.content) if request is not None else None
            alert = CapturedAlert(
                channel.name,
                channel.platform,
                notice.kind,
                message.title,
                message.body,
                message,
                notice,
                request,
                payload,
            )
            with self._lock:
                self._captured.append(alert)


@contextlib.contextmanager
def capture_alerts(
    alerter: Alerter | None = None, *, store: str | Store | None = None
) -> Iterator[list[CapturedAlert]]:
    """Record the messages every alerter (or only ``alerter``) would send inside the block,
    rendered for each channel with the exact request, instead of sending them.

    The block counts in fresh throttle state of its own: an error already alerted before
    it (in an earlier test) alerts again, and its repeats inside the block are counted
    there. When the block ends, those counts are dropped — no digest of them is ever sent.
    Digests of repeats appear when ``flush()`` is called after their window (or
    ``flush(final=True)``, as an ASGI lifespan shutdown does), inside the block.

    ``store`` (a URL such as ``"sqlite:///path.db"``, or a Store): count in that store
    instead of a fresh in-memory one — for tests of how a store counts; what the block
    counted stays in it."""
    captured: list[CapturedAlert] = []
    lock = threading.Lock()

    def recorder(source: Alerter) -> Sink:
        return _Recorder(source, captured, lock)

    with Alerter.recording(recorder, only=alerter, store=store):
        yield captured
