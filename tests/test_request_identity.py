"""What on-call greps the logs for is in every platform's alert (issue 15, scope 5 and
acceptance 5): the request id, the trace id, the user id and the tags named in
``tags_to_show`` — as written, so that a copied id finds the log lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from erralert._render.renderer import Renderer
from erralert.channels.registry import PLATFORMS, parse_webhook
from erralert.cli.sample import sample_event, sample_notices
from tests.channels.test_golden import SAMPLE_URLS
from tests.test_copy_paste import strings

NOW = 1795717201.0
HTTP_PLATFORMS = sorted(p for p, channel in PLATFORMS.items() if not channel.local)


def texts(platform: str, renderer: Renderer) -> list[str]:
    notice = sample_notices(sample_event(NOW))["alert"]
    channel = parse_webhook(SAMPLE_URLS[platform])
    message = renderer.render(notice, channel)
    body: Any = json.loads(channel.build_request(message, NOW).content)
    return list(strings(body))


@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
def test_an_alert_carries_the_request_trace_user_and_chosen_tags(platform: str) -> None:
    found = "\n".join(texts(platform, Renderer(tags_to_show=("payment_provider", "order_id"))))
    for value in ("req-7f3a9c", "4bf92f3577b34da6a3ce929d0e0e4736", "u-19"):
        assert value in found, (platform, value)
    assert "payment_provider" in found  # the tag's name, then its value
    assert "stripe" in found
    if platform != "webhook":  # its JSON document carries every tag anyway
        # in the order tags_to_show names them
        assert found.index("payment_provider") < found.rindex("order_id")


@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
def test_only_the_chosen_tags_are_shown(platform: str) -> None:
    if platform == "webhook":
        pytest.skip("the webhook's JSON document carries every tag")
    found = "\n".join(texts(platform, Renderer()))
    assert "payment_provider" not in found
    assert "stripe" not in found
