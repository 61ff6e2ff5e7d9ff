"""An alerter's ``Stats`` in the Prometheus text format (0.0.4), for an app's own
``/metrics`` route: see the README, "Counters"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from erralert._core.exposition import Family, exposition
from erralert._delivery.stats import ChannelStats, Stats

__all__ = ["prometheus_text"]

# per channel: (metric, type, help, the counter)
_PER_CHANNEL: tuple[
    tuple[str, Literal["counter", "gauge"], str, Callable[[ChannelStats], int]], ...
] = (
    (
        "erralert_messages_sent_total",
        "counter",
        "Messages the chat platform accepted (a storm summary is one).",
        lambda c: c.sent,
    ),
    (
        "erralert_messages_refused_total",
        "counter",
        "Messages the chat platform refused for good (bad payload, wrong signature): not retried.",
        lambda c: c.refused,
    ),
    (
        "erralert_messages_retried_total",
        "counter",
        "Attempts that failed for a passing reason (timeout, 5xx, 429, throttle code) "
        "and are tried again.",
        lambda c: c.retried,
    ),
    (
        "erralert_messages_folded_total",
        "counter",
        "Messages folded into a storm summary instead of being sent on their own.",
        lambda c: c.folded,
    ),
    (
        "erralert_messages_lost_total",
        "counter",
        "Messages given up (failing for longer than the retry age, or not renderable).",
        lambda c: c.lost,
    ),
    (
        "erralert_messages_outstanding",
        "gauge",
        "Messages owed now: queued, waiting for a retry or in a storm summary not yet sent.",
        lambda c: c.outstanding,
    ),
)


def prometheus_text(stats: Stats) -> str:
    """``stats`` in the Prometheus text exposition format 0.0.4, to serve with the
    Content-Type ``text/plain; version=0.0.4; charset=utf-8``. Per channel, labelled with the
    channel's name (secrets masked) and platform: ``erralert_messages_sent_total``,
    ``_refused_total``, ``_retried_total``, ``_folded_total``, ``_lost_total`` and the
    gauge ``erralert_messages_outstanding``; and ``erralert_alerts_total``,
    ``erralert_digests_total``."""
    families = [
        Family(
            name,
            kind,
            text,
            tuple(
                ((("channel", channel), ("platform", counters.platform)), value(counters))
                for channel, counters in stats.channels.items()
            ),
        )
        for name, kind, text, value in _PER_CHANNEL
    ]
    families.append(
        Family(
            "erralert_alerts_total",
            "counter",
            "Alerts handed to delivery: one per error and window, whatever the channels.",
            (((), stats.alerts),),
        )
    )
    families.append(
        Family(
            "erralert_digests_total",
            "counter",
            "Digests of repeats handed to delivery.",
            (((), stats.digests),),
        )
    )
    return exposition(families)
