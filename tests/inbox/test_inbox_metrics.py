"""The inbox's ``GET /metrics``: what each platform's stand-in received and answered since
the inbox started — accepted, rate-limited, refused — and what it keeps, in the Prometheus
text format; behind the token like every route; and over real HTTP, next to the sending
alerter's own counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

import erralert
from erralert.inbox import start

DINGTALK = "/robot/send?access_token=t"
SLACK = "/services/T/B/X"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def markdown(text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": "t", "text": text}}


def samples(text: str) -> dict[tuple[str, str], float]:
    """(sample name, its platform label or "") -> value, as Prometheus reads ``text``."""
    return {
        (sample.name, sample.labels.get("platform", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


EXPECTED = """\
# HELP erralert_inbox_messages_received_total Messages (webhook requests) received, per \
platform (unknown: a path no platform uses).
# TYPE erralert_inbox_messages_received_total counter
erralert_inbox_messages_received_total{platform="dingtalk"} 21
erralert_inbox_messages_received_total{platform="slack"} 2
erralert_inbox_messages_received_total{platform="unknown"} 1
# HELP erralert_inbox_messages_accepted_total Messages the platform's stand-in accepted.
# TYPE erralert_inbox_messages_accepted_total counter
erralert_inbox_messages_accepted_total{platform="dingtalk"} 20
erralert_inbox_messages_accepted_total{platform="slack"} 1
erralert_inbox_messages_accepted_total{platform="unknown"} 0
# HELP erralert_inbox_messages_rate_limited_total Messages refused by the platform's rate \
limit (the hook's rolling window).
# TYPE erralert_inbox_messages_rate_limited_total counter
erralert_inbox_messages_rate_limited_total{platform="dingtalk"} 1
erralert_inbox_messages_rate_limited_total{platform="slack"} 0
erralert_inbox_messages_rate_limited_total{platform="unknown"} 0
# HELP erralert_inbox_messages_refused_total Messages refused for another reason: signature, \
structure, size, keyword, unknown path.
# TYPE erralert_inbox_messages_refused_total counter
erralert_inbox_messages_refused_total{platform="dingtalk"} 0
erralert_inbox_messages_refused_total{platform="slack"} 1
erralert_inbox_messages_refused_total{platform="unknown"} 1
# HELP erralert_inbox_messages_stored Messages the inbox keeps now, per platform.
# TYPE erralert_inbox_messages_stored gauge
erralert_inbox_messages_stored{platform="dingtalk"} 21
erralert_inbox_messages_stored{platform="slack"} 2
erralert_inbox_messages_stored{platform="unknown"} 1
# HELP erralert_inbox_messages_dropped Oldest messages dropped to stay within the inbox's \
bounds (since the last clear).
# TYPE erralert_inbox_messages_dropped gauge
erralert_inbox_messages_dropped 0
"""


def traffic(client: TestClient) -> None:
    """21 DingTalk messages in one second (the 21st over its 20 a minute), a Slack message
    accepted and one refused for its size, and a POST to a path no platform uses."""
    for _ in range(21):
        client.post(DINGTALK, json=markdown("x"))
    assert client.post(SLACK, json={"text": "ok"}).status_code == 200
    too_long = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}]}
    assert client.post(SLACK, json={"blocks": too_long["blocks"] * 5}).status_code == 400
    assert client.post("/nowhere", json={}).status_code == 404


def test_metrics_count_every_answer_exactly(client: TestClient) -> None:
    traffic(client)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.text == EXPECTED


def test_counters_outlive_a_clear_and_the_stored_gauge_does_not(client: TestClient) -> None:
    traffic(client)
    assert client.delete("/api/messages").status_code == 204
    read = samples(client.get("/metrics").text)
    assert read[("erralert_inbox_messages_received_total", "dingtalk")] == 21  # monotonic
    assert ("erralert_inbox_messages_stored", "dingtalk") not in read
    assert read[("erralert_inbox_messages_dropped", "")] == 0


def test_an_inbox_with_a_token_wants_it_for_metrics_too(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(token="s3cret")
    assert client.get("/metrics").status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert scraped.status_code == 200
    assert scraped.text.startswith("# HELP erralert_inbox_messages_received_total ")


@pytest.mark.e2e
def test_metrics_over_http_agree_with_the_alerter_s_own_counters() -> None:
    with start() as inbox:
        alerter = erralert.Alerter([f"slack+{inbox.url}{SLACK}", f"webhook+{inbox.url}/nowhere/x"])
        try:
            try:
                raise RuntimeError("scraped")
            except RuntimeError as exc:
                alerter.capture_exception(exc)
            assert alerter.flush(10)
            stats = alerter.stats()
        finally:
            alerter.close(1)
        response = httpx.get(f"{inbox.url}/metrics")
    assert response.headers["content-type"] == CONTENT_TYPE
    read = samples(response.text)
    # /nowhere/x is no platform's path: the inbox answers 404, which erralert takes as a
    # refusal (not worth a retry)
    assert read[("erralert_inbox_messages_accepted_total", "slack")] == 1
    assert read[("erralert_inbox_messages_refused_total", "unknown")] == 1
    assert (stats.sent, stats.refused, stats.retried) == (1, 1, 0)
