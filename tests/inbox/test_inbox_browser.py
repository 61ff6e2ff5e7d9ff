"""The inbox page in a real headless Chromium: after a real alerter's alert and digest,
the page shows the exception type, the culprit and the digest's count as text; a message
sent after the page loaded appears without a reload; the platform filter hides the others.
A screenshot is saved to ``tests/artifacts/inbox.png`` (or ``$ERRALERT_ARTIFACTS``)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import erralert
from erralert.cli.demo import BURST, DEMO_SECRETS, run_demo
from erralert.cli.demo import WINDOW as DEMO_WINDOW
from erralert.inbox import RunningInbox, start
from tests.inbox.test_inbox_delivery import SCOPE, hooks, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

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

WINDOW = 1.0


class InventoryError(Exception):
    pass


class PaymentTimeout(Exception):
    pass


def reservestock(sku: str) -> None:
    raise InventoryError(f"no stock left for {sku}")


def chargelater() -> None:
    raise PaymentTimeout("gateway did not answer")


@contextlib.contextmanager
def chromium(tmp_path: Path, width: int, height: int, *flags: str) -> Iterator[object]:
    """Debian's Chromium, headless, with a window ``width`` by ``height`` CSS pixels (a
    WebDriver; typed ``object`` so that the module imports without selenium)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
        f"--window-size={width},{height}",
        *flags,
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    with chromium(tmp_path, 1200, 1600) as driver:
        yield driver


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[RunningInbox]:
    with start(db_path=tmp_path / "inbox.db", secrets=DEMO_SECRETS) as running:
        yield running


def artifacts() -> Path:
    folder = Path(
        os.environ.get("ERRALERT_ARTIFACTS") or Path(__file__).resolve().parent.parent / "artifacts"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_page_shows_alert_and_digest_live_and_filters(inbox: RunningInbox, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    host = inbox.url.removeprefix("http://")
    alerter = erralert.Alerter(
        [
            f"slack+http://{host}/services/T0/B0/X0",
            f"dingtalk+http://{host}/robot/send?access_token=t0",
        ],
        service="shop",
        window=WINDOW,
    )
    try:
        for _ in range(3):  # one alert, then two repeats: one digest of 2
            try:
                reservestock("SKU-42")
            except InventoryError as exc:
                alerter.capture_exception(exc, request=SCOPE)
        wait_until(lambda: alerter.flush(5) and inbox.store.count() >= 4)
        assert {m.kind for m in inbox.store.messages()} == {"alert", "digest"}

        browser.get(inbox.url + "/")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.msg")) >= 4)
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "InventoryError" in text
        assert "reservestock" in text  # the culprit
        assert "\u00d72" in text or "2 more times" in text  # the digest's count
        assert "digest" in text
        assert "alert" in text

        all_button = browser.find_element(By.CSS_SELECTOR, '#filters button[data-platform=""]')
        # live: sent after the page loaded, shown without a reload
        try:
            chargelater()
        except PaymentTimeout as exc:
            alerter.capture_exception(exc)
        assert alerter.flush(10)
        wait.until(lambda d: "PaymentTimeout" in d.find_element(By.TAG_NAME, "body").text)
        first = browser.find_elements(By.CSS_SELECTOR, "article.msg")[0]
        assert "PaymentTimeout" in first.text  # newest first
        # the filter buttons were updated in place, not replaced (a replaced button between
        # press and release loses the click): the element found before is still the one
        wait.until(lambda d: all_button.text == "All (6)")

        # the filter: DingTalk only
        browser.find_element(By.CSS_SELECTOR, '#filters button[data-platform="dingtalk"]').click()
        wait.until(
            lambda d: all(
                not card.is_displayed()
                for card in d.find_elements(By.CSS_SELECTOR, 'article[data-platform="slack"]')
            )
        )
        shown = [
            card.get_attribute("data-platform")
            for card in browser.find_elements(By.CSS_SELECTOR, "article.msg")
            if card.is_displayed()
        ]
        assert shown
        assert set(shown) == {"dingtalk"}
        button = browser.find_element(By.CSS_SELECTOR, '#filters button[data-platform="dingtalk"]')
        assert button.text == "DingTalk (3)"

        browser.find_element(By.CSS_SELECTOR, '#filters button[data-platform=""]').click()
        wait.until(
            lambda d: all(c.is_displayed() for c in d.find_elements(By.CSS_SELECTOR, "article.msg"))
        )
        browser.save_screenshot(str(artifacts() / "inbox.png"))
    finally:
        alerter.close(5)


def test_page_after_the_demo_scenario_shows_type_culprit_and_digest_count(
    inbox: RunningInbox, browser: object
) -> None:
    """Acceptance: `erralert demo`'s scenario into the inbox, then the page in Chromium."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    result = run_demo(
        inbox.url, lambda: list(inbox.store.messages(limit=10_000)), out=io.StringIO()
    )
    assert result.ok, (result.refused, result.counts)
    stored = inbox.store.messages(limit=10_000)

    browser.get(inbox.url + "/")
    WebDriverWait(browser, 20).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.msg")) == len(stored)
    )
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "[shop·prod·1.4.3]" in text  # where, in every title
    assert "PaymentDeclined" in text  # the exception type
    assert "card declined for order 1042" in text
    # the culprit, a file of the shop's own (installed in a scratch directory), and its line
    assert "shop/payments.py:11" in text
    assert 'raise PaymentDeclined(f"card declined for order {order_id}: ' in text
    # an error raised inside a library (json) shows the app's line, the library folded
    assert "quote: dict[str, object] = json.loads(body)" in text
    assert "raised in json/decoder.py:" in text
    # the digest: the burst's repeats, counted
    assert f"insufficient_funds \u00d7{BURST} in {DEMO_WINDOW:.0f} s" in text
    assert "Error storm" in text  # a storm summary
    assert "(+11 similar)" in text  # the warehouses: one line, not twelve
    for platform in ("Slack", "DingTalk", "Feishu", "Telegram", "Discord", "WeCom"):
        assert platform in text
    browser.save_screenshot(str(artifacts() / "inbox-demo.png"))


def test_links_are_buttons_a_reader_can_click(tmp_path: Path, browser: object) -> None:
    """A real alerter with configured links: on each platform that has them, the inbox
    shows the links as a row of buttons that open the link (and nothing else runs: the
    page's CSP stays as it is)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    platforms = ("slack", "teams", "googlechat", "feishu", "telegram", "dingtalk")
    with start(db_path=tmp_path / "links.db") as inbox:
        urls = hooks(inbox.url)
        alerter = erralert.Alerter(
            [
                urls[p].replace("&secret=SECgood", "").replace("?secret=fsgood", "")
                for p in platforms
            ],
            release="1.4.3",
            links={
                "source": "https://github.com/org/shop/blob/{release}/{path}#L{lineno}",
                "runbook": "https://wiki.example/runbooks/{exception}",
            },
        )
        try:
            try:
                reservestock("SKU-42")
            except InventoryError as exc:
                alerter.capture_exception(exc)
            wait_until(lambda: alerter.flush(5) and inbox.store.count() >= len(platforms))
            assert all(m.error is None for m in inbox.store.messages())

            browser.get(inbox.url + "/")
            WebDriverWait(browser, 20).until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.msg")) == len(platforms)
            )
            for platform in platforms:
                card = browser.find_element(By.CSS_SELECTOR, f'article[data-platform="{platform}"]')
                buttons = card.find_elements(By.CSS_SELECTOR, ".buttons a")
                assert [b.text for b in buttons] == ["source", "runbook"], platform
                assert all(b.is_displayed() for b in buttons)
                hrefs = [b.get_attribute("href") for b in buttons]
                # the culprit frame's project-relative path and line, at the release
                assert re.fullmatch(
                    r"https://github\.com/org/shop/blob/1\.4\.3/tests/inbox/"
                    r"test_inbox_browser\.py#L\d+",
                    hrefs[0],
                ), hrefs
                assert (
                    hrefs[1]
                    == "https://wiki.example/runbooks/tests.inbox.test_inbox_browser.InventoryError"
                )
                assert {b.get_attribute("rel") for b in buttons} == {"noopener noreferrer nofollow"}
            browser.save_screenshot(str(artifacts() / "inbox-links.png"))
        finally:
            alerter.close(5)
