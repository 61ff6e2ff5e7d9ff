"""Where an alerter's notices go: the delivery seam.

An alerter decides *that* something is worth a message (an alert, a digest) and hands the
notice to a ``Sink``. Its own sink is its ``Outbox``, which renders, paces and sends; while
a recording covers it (``Alerter.recording``, under ``erralert.testing.capture_alerts``),
the recording's sink gets the notices instead, and nothing is sent.
"""

from __future__ import annotations

from typing import Protocol

from erralert._core.notice import Notice

__all__ = ["Sink"]


class Sink(Protocol):
    """Takes an alerter's notices. ``submit`` runs on the capturing thread: it must neither
    block nor raise."""

    def submit(self, notice: Notice) -> None: ...
