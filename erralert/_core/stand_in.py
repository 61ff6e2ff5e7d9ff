"""An event made up to stand in for one that is gone: a storm whose sample could not be
read back still sends its summary, and the summary is rendered from an event."""

from __future__ import annotations

import os

from erralert._core.event import Event
from erralert._core.event_origin import hostname, new_event_id

__all__ = ["stand_in_event"]


def stand_in_event(text: str, *, now: float) -> Event:
    """An error-level event of one line of ``text`` (title and message) made at ``now`` on
    this host, with nothing captured: no exception, culprit, request, tags or extra."""
    return Event(
        event_id=new_event_id(),
        timestamp=now,
        level="error",
        title=text,
        message=text,
        exceptions=(),
        culprit="",
        traceback="",
        request=None,
        service=None,
        environment=None,
        release=None,
        host=hostname(),
        pid=os.getpid(),
    )
