"""``erralert.prometheus_text``: a known ``Stats`` written exactly, in the text exposition
format 0.0.4, and read back by Prometheus's own Python parser; and the format's helper
(``erralert._core.exposition``), which the inbox's /metrics uses too."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

import erralert
from erralert import ChannelStats, Stats
from erralert._core.exposition import Family, exposition

KNOWN = Stats(
    {
        "ops": ChannelStats("slack", sent=12, refused=1, retried=3, folded=40, lost=2),
        'on "call"\\night\nshift': ChannelStats("dingtalk", sent=5, outstanding=7),
    },
    alerts=9,
    digests=4,
)

EXPECTED = """\
# HELP erralert_messages_sent_total Messages the chat platform accepted (a storm summary is one).
# TYPE erralert_messages_sent_total counter
erralert_messages_sent_total{channel="ops",platform="slack"} 12
erralert_messages_sent_total{channel="on \\"call\\"\\\\night\\nshift",platform="dingtalk"} 5
# HELP erralert_messages_refused_total Messages the chat platform refused for good (bad \
payload, wrong signature): not retried.
# TYPE erralert_messages_refused_total counter
erralert_messages_refused_total{channel="ops",platform="slack"} 1
erralert_messages_refused_total{channel="on \\"call\\"\\\\night\\nshift",platform="dingtalk"} 0
# HELP erralert_messages_retried_total Attempts that failed for a passing reason (timeout, \
5xx, 429, throttle code) and are tried again.
# TYPE erralert_messages_retried_total counter
erralert_messages_retried_total{channel="ops",platform="slack"} 3
erralert_messages_retried_total{channel="on \\"call\\"\\\\night\\nshift",platform="dingtalk"} 0
# HELP erralert_messages_folded_total Messages folded into a storm summary instead of being \
sent on their own.
# TYPE erralert_messages_folded_total counter
erralert_messages_folded_total{channel="ops",platform="slack"} 40
erralert_messages_folded_total{channel="on \\"call\\"\\\\night\\nshift",platform="dingtalk"} 0
# HELP erralert_messages_lost_total Messages given up (failing for longer than the retry age, \
or not renderable).
# TYPE erralert_messages_lost_total counter
erralert_messages_lost_total{channel="ops",platform="slack"} 2
erralert_messages_lost_total{channel="on \\"call\\"\\\\night\\nshift",platform="dingtalk"} 0
# HELP erralert_messages_outstanding Messages owed now: queued, waiting for a retry or in a \
storm summary not yet sent.
# TYPE erralert_messages_outstanding gauge
erralert_messages_outstanding{channel="ops",platform="slack"} 0
erralert_messages_outstanding{channel="on \\"call\\"\\\\night\\nshift",platform="dingtalk"} 7
# HELP erralert_alerts_total Alerts handed to delivery: one per error and window, whatever \
the channels.
# TYPE erralert_alerts_total counter
erralert_alerts_total 9
# HELP erralert_digests_total Digests of repeats handed to delivery.
# TYPE erralert_digests_total counter
erralert_digests_total 4
"""


def test_a_known_stats_is_written_exactly() -> None:
    assert erralert.prometheus_text(KNOWN) == EXPECTED


def test_prometheus_reads_back_every_sample_with_its_labels() -> None:
    read = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(erralert.prometheus_text(KNOWN))
        for sample in family.samples
    }
    night = (("channel", 'on "call"\\night\nshift'), ("platform", "dingtalk"))
    ops = (("channel", "ops"), ("platform", "slack"))
    assert read[("erralert_messages_sent_total", night)] == 5
    assert read[("erralert_messages_folded_total", ops)] == 40
    assert read[("erralert_messages_outstanding", night)] == 7
    assert read[("erralert_alerts_total", ())] == 9
    assert len(read) == 6 * 2 + 2


def test_totals_add_up_the_channels() -> None:
    assert (KNOWN.sent, KNOWN.refused, KNOWN.retried) == (17, 1, 3)
    assert (KNOWN.folded, KNOWN.lost, KNOWN.outstanding) == (40, 2, 7)


def test_no_channels_still_names_every_metric() -> None:
    families = list(text_string_to_metric_families(erralert.prometheus_text(Stats())))
    assert [f.name for f in families] == [
        "erralert_messages_sent",
        "erralert_messages_refused",
        "erralert_messages_retried",
        "erralert_messages_folded",
        "erralert_messages_lost",
        "erralert_messages_outstanding",
        "erralert_alerts",
        "erralert_digests",
    ]


# -- the format's helper -----------------------------------------------------------------------
def test_help_escapes_backslashes_and_line_feeds_but_not_quotes() -> None:
    family = Family("x", "gauge", 'a "b" \\ c\nd', (((("k", "v"),), 1.5),))
    assert exposition([family]) == ('# HELP x a "b" \\\\ c\\nd\n# TYPE x gauge\nx{k="v"} 1.5\n')


@pytest.mark.parametrize(
    ("value", "written"),
    [(0, "0"), (3, "3"), (2.5, "2.5"), (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN")],
)
def test_values_are_written_as_prometheus_reads_them(value: float, written: str) -> None:
    assert exposition([Family("x", "gauge", "h", (((), value),))]).endswith(f"x {written}\n")


@pytest.mark.parametrize(
    ("name", "labels"),
    [("9lives", ()), ("a-b", ()), ("ok", (("9", "v"),)), ("ok", (("__reserved", "v"),))],
)
def test_a_bad_name_is_refused_at_once(name: str, labels: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(ValueError, match="not a Prometheus"):
        Family(name, "counter", "h", ((labels, 1),))
