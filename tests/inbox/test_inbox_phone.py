"""The messages as a person on call reads them: the sample alert, digest and storm (what
``erralert preview`` shows) sent to every platform's imitation in the local inbox, and the
page opened in headless Chromium at a phone's width (412 CSS pixels), one screenshot per
platform and kind in ``tests/artifacts/phone/`` (or ``$ERRALERT_ARTIFACTS/phone``).

The test also reads the page as a person would: the notification line says service and
environment, the culprit's path and code line are on screen as written, the links are there
to tap, a storm fits the screen. ``ERRALERT_UPDATE_SCREENSHOTS=1`` copies the pictures the
README shows to ``tests/screenshots/``."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from erralert._core.links import parse_links
from erralert._core.notice import Kind
from erralert._render.renderer import Renderer
from erralert.channels.registry import parse_webhook
from erralert.cli.demo import DEMO_SECRETS
from erralert.cli.sample import KINDS, sample_event, sample_notices
from erralert.inbox import RunningInbox, start
from erralert.inbox.receive import EXAMPLE_PATHS
from tests.inbox.test_inbox_browser import CHROMEDRIVER, CHROMIUM, artifacts, chromium

# .ci/run installs both and sets ERRALERT_REQUIRE_BROWSER=1: there a missing browser fails
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        (not CHROMIUM.exists() or not CHROMEDRIVER.exists())
        and not os.environ.get("ERRALERT_REQUIRE_BROWSER"),
        reason="needs Debian's chromium and chromedriver"
        " (/usr/bin/chromium, /usr/bin/chromedriver)",
    ),
]

PHONE = 412  # CSS pixels: the width of a common Android phone
SCREEN = 915  # … and its height: what one screen shows without scrolling
README_PICTURES = {
    ("slack", "alert"),
    ("dingtalk", "storm"),
    ("feishu", "digest"),
    ("telegram", "alert"),
}
PICTURES = Path(__file__).resolve().parent.parent / "screenshots"
# read at import: the suite's autouse fixture clears ERRALERT_* variables for each test
UPDATE = os.environ.get("ERRALERT_UPDATE_SCREENSHOTS") == "1"
LINKS = {
    "Source": "https://github.com/acme/shop/blob/{release}/{path}#L{lineno}",
    "Logs": "https://logs.example.com/search?request_id={request_id}",
}


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[object]:
    # one CSS pixel a device pixel, no scrollbar: the pictures are the page at phone width
    flags = ("--hide-scrollbars", "--force-device-scale-factor=1")
    with chromium(tmp_path, PHONE, SCREEN, *flags) as driver:
        yield driver


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[RunningInbox]:
    with start(db_path=tmp_path / "inbox.db", secrets=DEMO_SECRETS) as running:
        yield running


def send_samples(inbox: RunningInbox) -> dict[tuple[str, Kind], str]:
    """The sample alert, digest and storm to every platform; the title each was sent with."""
    renderer = Renderer(links=parse_links(LINKS), tags_to_show=("order_id",))
    titles: dict[tuple[str, Kind], str] = {}
    event = sample_event(time.time() - 400)
    with httpx.Client(timeout=10) as client:
        for platform, path in EXAMPLE_PATHS.items():
            url = f"{platform}+{inbox.url}{path}"
            if platform in DEMO_SECRETS:
                url += ("&" if "?" in url else "?") + f"secret={DEMO_SECRETS[platform]}"
            channel = parse_webhook(url)
            for kind, notice in sample_notices(event).items():
                message = renderer.render(notice, channel)
                assert message.template_error is None, (platform, kind, message.template_error)
                verdict = channel.judge(client.send(channel.build_request(message, time.time())))
                assert not verdict.reason, (platform, kind, verdict)
                titles[platform, kind] = message.title
                time.sleep(0.25)  # Feishu's 5 a second, as the inbox counts them
    return titles


def test_every_platform_and_kind_at_phone_width(inbox: RunningInbox, phone: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(phone, WebDriver)
    titles = send_samples(inbox)
    phone.get(inbox.url + "/")
    WebDriverWait(phone, 20).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.msg")) == len(titles)
    )
    # the page's sticky bar would cover the top of a card in an element screenshot
    phone.execute_script("document.querySelector('header.top').style.position = 'static'")
    folder = artifacts() / "phone"
    folder.mkdir(exist_ok=True)
    seen: set[tuple[str, str]] = set()
    for card in phone.find_elements(By.CSS_SELECTOR, "article.msg"):
        platform = card.get_attribute("data-platform") or ""
        kind = card.find_element(By.CSS_SELECTOR, ".badge.kind").text
        assert "is-refused" not in (card.get_attribute("class") or ""), card.text
        text = card.text
        # where, in what the notification shows, and the sample's facts as written
        assert "[checkout·prod·1.4.3]" in text, (platform, kind)
        if platform == "webhook":  # the inbox shows the JSON document's fields
            pass
        elif kind == "storm":
            assert "337 errors of 21 kinds" in text, platform
            assert "… and 2 more kinds" in text, platform
            # the summary fits a phone screen
            assert card.size["height"] <= 1.3 * SCREEN, (platform, card.size)
        else:
            assert "shop/payments/gateway.py:140" in text, (platform, kind)
            assert 'raise PaymentDeclined(f"card declined for order' in text, (platform, kind)
        if kind == "alert":
            assert "New error, first seen in 1.4.3" in text, platform
            assert "req-7f3a9c" in text, platform
        card.screenshot(str(folder / f"{platform}-{kind}.png"))
        seen.add((platform, kind))
    assert seen == {(p, k) for p in EXAMPLE_PATHS for k in KINDS}
    if UPDATE:
        PICTURES.mkdir(exist_ok=True)
        for platform, kind in README_PICTURES:
            name = f"{platform}-{kind}.png"
            shutil.copyfile(folder / name, PICTURES / name)


FLEET = {"hosts": 3, "processes": 8, "releases": ("1.4.2", "1.4.3")}


def test_a_digest_from_a_fleet_at_phone_width(inbox: RunningInbox, phone: object) -> None:
    """The digest of repeats counted on several hosts says so in one line, on every
    platform, as the person on call reads it (``<platform>-digest-fleet.png``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(phone, WebDriver)
    renderer = Renderer(links=parse_links(LINKS), tags_to_show=("order_id",))
    digest = sample_notices(sample_event(time.time() - 400))["digest"]
    digest = dataclasses.replace(
        digest, occurrences=dataclasses.replace(digest.occurrences, **FLEET)
    )
    with httpx.Client(timeout=10) as client:
        for platform, path in EXAMPLE_PATHS.items():
            url = f"{platform}+{inbox.url}{path}"
            if platform in DEMO_SECRETS:
                url += ("&" if "?" in url else "?") + f"secret={DEMO_SECRETS[platform]}"
            channel = parse_webhook(url)
            message = renderer.render(digest, channel)
            assert message.template_error is None, (platform, message.template_error)
            verdict = channel.judge(client.send(channel.build_request(message, time.time())))
            assert not verdict.reason, (platform, verdict)
            time.sleep(0.25)  # Feishu's 5 a second, as the inbox counts them
    phone.get(inbox.url + "/")
    WebDriverWait(phone, 20).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.msg")) == len(EXAMPLE_PATHS)
    )
    phone.execute_script("document.querySelector('header.top').style.position = 'static'")
    folder = artifacts() / "phone"
    folder.mkdir(exist_ok=True)
    for card in phone.find_elements(By.CSS_SELECTOR, "article.msg"):
        platform = card.get_attribute("data-platform") or ""
        if platform != "webhook":  # the inbox shows the webhook's JSON document
            assert "from 3 hosts (8 processes) · releases 1.4.2, 1.4.3" in card.text, platform
        card.screenshot(str(folder / f"{platform}-digest-fleet.png"))
