"""Helpers for the tests of apps that use erralert.

>>> with erralert.testing.capture_alerts() as alerts:
...     client.get("/boom")
...     erralert.flush()
>>> [a.kind for a in alerts]
['alert']
>>> alerts[0].payload["text"]
'...'
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from erralert.alerter import Alerter
from erralert.channels.base import Message
from erralert.notice import Notice

__all__ = ["CapturedAlert", "capture_alerts"]


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


@contextlib.contextmanager
def capture_alerts(alerter: Alerter | None = None) -> Iterator[list[CapturedAlert]]:
    """Record rendered messages instead of sending them, synchronously, for every alerter
    (or only ``alerter``). Digests appear when ``flush()`` is called after their window."""
    captured: list[CapturedAlert] = []
    lock = threading.Lock()

    def record(source: Alerter, notice: Notice) -> None:
        if alerter is not None and source is not alerter:
            source._outbox.submit(notice)
            return
        for index in source._outbox._targets(notice):  # the channels routing chose
            channel = source.channels[index]
            message = source._renderer.render(notice, channel)
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
            with lock:
                captured.append(alert)

    Alerter._recorders.append(record)
    try:
        yield captured
    finally:
        Alerter._recorders.remove(record)
