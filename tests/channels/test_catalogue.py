"""erralert.channels lists every platform with its limits; bad URLs name what is accepted."""

from __future__ import annotations

import pytest

from erralert._core.errors import ConfigError
from erralert.channels import PLATFORMS, catalogue, parse_webhook


def test_catalogue_lists_every_platform_with_its_limits() -> None:
    rows = catalogue()
    assert [r.name for r in rows] == sorted(PLATFORMS)
    for row in rows:
        assert row.max_length > 0
        assert row.length_unit in ("chars", "bytes")
        channel = PLATFORMS[row.name]
        assert row.rates == channel.rates
        assert {"template", "rate", "name"} <= set(row.options)
        if not channel.local and row.name != "webhook":
            assert row.rates, f"{row.name} has no default pacing"


def test_unknown_scheme_lists_the_accepted_forms() -> None:
    with pytest.raises(ConfigError) as info:
        parse_webhook("pigeon://coop/42")
    message = str(info.value)
    for row in catalogue():
        if row.short_form:
            assert row.short_form in message


def test_unknown_platform_lists_the_platforms() -> None:
    with pytest.raises(ConfigError) as info:
        parse_webhook("pigeon+https://coop.example/42")
    for name in PLATFORMS:
        assert name in str(info.value)


def test_local_and_http_channels_refuse_the_other_delivery() -> None:
    from erralert.channels.base import Message

    message = Message(kind="alert", title="t", body="b")
    with pytest.raises(TypeError, match="delivered locally"):
        parse_webhook("console://").build_request(message)
    with pytest.raises(TypeError, match="delivered over HTTP"):
        parse_webhook("slack://T0/B0/X0").deliver_locally(message)
