"""``tags_to_show``: the renderer's ``shown_tags`` — the configured tags an event has, as
``(name, value)`` pairs in the configured order, scrubbed like every tag, none for a storm."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

import erralert
from erralert._render.renderer import Renderer
from erralert.channels.base import Channel
from erralert.testing import capture_alerts
from tests import samples


class Plain(Channel):
    platform = "tagtest"
    dialect = "plain"
    max_length = 20000


TEMPLATE = """\
{% block title %}t{% endblock %}
{% block body %}{% for name, value in shown_tags %}{{ name }}={{ value }};{% endfor %}{% endblock %}
"""


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    (tmp_path / "tagtest.j2").write_text(textwrap.dedent(TEMPLATE), encoding="utf-8")
    return tmp_path


def test_shown_tags_in_the_configured_order_missing_ones_left_out(template_dir: Path) -> None:
    renderer = Renderer(template_dir, tags_to_show=["region", "tenant", "absent", "plan"])
    assert renderer.tags_to_show == ("region", "tenant", "absent", "plan")
    event = dataclasses.replace(
        samples.event(), tags={"plan": "pro", "tenant": "acme", "other": "x", "region": "eu"}
    )
    channel = Plain("https://x.example/hook")
    for kind in ("alert", "digest"):
        message = renderer.render(samples.notice(kind, event), channel)
        assert message.template_error is None
        assert message.body == "region=eu;tenant=acme;plan=pro;"
    storm = renderer.render(samples.notice("storm", event), channel)
    assert storm.body == ""


def test_without_tags_to_show_none_are_shown(template_dir: Path) -> None:
    event = dataclasses.replace(samples.event(), tags={"tenant": "acme"})
    message = Renderer(template_dir).render(samples.notice("alert", event), Plain("https://x/h"))
    assert message.body == ""


def test_the_alerter_passes_tags_to_show_and_values_are_scrubbed(template_dir: Path) -> None:
    alerter = erralert.Alerter(
        ["webhook+https://alerts.example.com/erralert?template=tagtest"],
        template_dir=template_dir,
        tags_to_show="tenant, api_key",  # one string: split as ERRALERT_TAGS_TO_SHOW is
    )
    with capture_alerts(alerter) as alerts:
        alerter.capture_message("quota exceeded", tags={"api_key": "sk_live_1", "tenant": "acme"})
        alerter.close(0.1)
    (alert,) = alerts
    assert alert.message.body == "tenant=acme;api_key=[Filtered];"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "tags_to_show: expected tag names (non-empty strings), got 1"),
        (["tenant", ""], "tags_to_show: expected tag names (non-empty strings), got ''"),
        (3, "tags_to_show: expected a list of tag names, got int"),
        ({"tenant": True}, "tags_to_show: expected a list of tag names, got dict"),
    ],
)
def test_bad_tags_to_show_fail_at_start_up(value: object, message: str) -> None:
    with pytest.raises(erralert.ConfigError) as raised:
        erralert.Alerter(["console://"], tags_to_show=value)  # type: ignore[arg-type]
    assert str(raised.value) == message
