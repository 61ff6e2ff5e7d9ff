"""The inbox checks erralert's sending side, so it shares none of its code (the import
contract in tests/layers.py holds it to that); what it must agree on with the senders is
written twice and compared here."""

from __future__ import annotations

from importlib.resources import files

import pytest
from starlette.testclient import TestClient

from erralert.channels.base import KIND_HEADER as SENT_KIND_HEADER
from erralert.inbox.ratelimit import RateLimit, RollingWindow
from erralert.inbox.receive import KIND_HEADER


def test_the_inbox_reads_the_kind_header_the_channels_write() -> None:
    assert SENT_KIND_HEADER.lower() == KIND_HEADER


def test_the_served_page_is_its_assets_filled_in(client: TestClient) -> None:
    page = client.get("/").text
    assets = files("erralert.inbox") / "assets"
    style = (assets / "page.css").read_text(encoding="utf-8")
    script = (assets / "page.js").read_text(encoding="utf-8")
    assert f"<style>\n{style}</style>" in page
    before, _, after = script.partition("$labels")
    assert before in page
    assert after.partition("$counts")[2] in page
    assert page.startswith("<!doctype html>")
    assert "$" not in page  # every slot filled (the page itself has no dollar sign)


def test_a_rolling_window_counts_every_limit() -> None:
    window = RollingWindow((RateLimit(2, 1.0), RateLimit(3, 60.0)))
    assert window.take(0.0) == 0.0
    assert window.take(0.5) == 0.0
    assert window.take(0.9) == pytest.approx(0.1)  # the first stops counting at 1.0
    assert window.take(1.0) == 0.0
    assert window.take(2.0) == pytest.approx(58.0)  # three in any minute
    assert window.take(60.0) == 0.0


def test_a_message_stamped_before_the_last_is_judged_in_its_turn() -> None:
    # two threads read the clock apart: the second-stamped came first
    window = RollingWindow((RateLimit(60, 60.0),))
    assert window.take(10.0) == 0.0
    assert window.take(9.999) == 0.0
