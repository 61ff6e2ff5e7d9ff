"""``erralert demo``: erralert at work in one command, with no chat account.

A small shop app (Starlette under uvicorn, the one middleware line added) fails on a
script of real HTTP requests: a few distinct errors, a burst of repeats of one of them, and
a storm of different errors at once. Its alerts go to the local chat inbox
(``erralert.inbox``), one channel per platform, each paced by that platform's real limits
and signed where the platform signs, so the inbox shows what every chat would receive:
alerts, a digest of the repeats when the window ends, and storm summaries where a
platform's rate limit could not carry every alert.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from erralert._alerter.alerter import Alerter
from erralert.cli.demo_shop import WAREHOUSES, install
from erralert.cli.terminal import table
from erralert.inbox.receive import EXAMPLE_PATHS
from erralert.integrations.asgi import ASGIMiddleware

__all__ = ["DEMO_LINKS", "DEMO_SECRETS", "DemoResult", "demo_webhooks", "make_app", "run_demo"]

WINDOW = 4.0  # short, so that the digest arrives within seconds
MAX_DELAY = 3.0  # an alert that cannot be sent within 3 s of its error joins a storm summary
BURST = 40  # repeats of one error
STORM = WAREHOUSES  # distinct errors at once: one failing function reached from 12 places

# signing secrets the demo's DingTalk/Feishu/Lark channels sign with and the inbox checks
DEMO_SECRETS = {
    "dingtalk": "SECdemo0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
    "feishu": "demoFeishuSecret0123",
    "lark": "demoLarkSecret0123",
}

# one channel per platform, at the path its native URL has (the inbox serves them all).
# Rocket.Chat's limit is its server's setting (default 10 per minute): the demo's server
# allows 10 per 10 s, or its storm summary would come a minute later.
_PATHS = {**EXAMPLE_PATHS, "rocketchat": EXAMPLE_PATHS["rocketchat"] + "?rate=10/10"}


def demo_webhooks(inbox_url: str) -> list[str]:
    """The demo's webhook URLs: every platform, pointed at the inbox at ``inbox_url``."""
    urls = []
    for platform, path in _PATHS.items():
        url = f"{platform}+{inbox_url}{path}"
        if platform in DEMO_SECRETS:
            url += ("&" if "?" in url else "?") + f"secret={DEMO_SECRETS[platform]}"
        urls.append(url)
    return urls


# -- the shop -------------------------------------------------------------------------------

# where the demo's links point: the shop's source at the release, and its logs by request id
DEMO_LINKS = {
    "Source": "https://github.com/acme/shop/blob/{release}/{path}#L{lineno}",
    "Logs": "https://logs.example.com/search?request_id={request_id}",
}


def make_app(alerter: Alerter, views: ModuleType) -> ASGIMiddleware:
    """The shop (its handlers in ``views``, see ``erralert.cli.demo_shop``), with erralert's
    one line."""
    app = Starlette(
        routes=[
            Route("/orders/{order_id:int}/pay", views.pay, methods=["POST"]),
            Route("/shipping/quote", views.shipping_quote),
            Route("/reports/daily", views.daily_report),
            Route("/stock/{site:int}", views.stock_level),
        ]
    )
    return ASGIMiddleware(app, alerter=alerter)  # ← the one line


# -- the scenario ---------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What the inbox received, per platform: ``counts[platform][kind]``."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # "platform: error" of refused requests
    requests: int = 0  # failing requests the app answered
    seconds: float = 0.0

    def total(self, kind: str) -> int:
        return sum(c[kind] for c in self.counts.values())

    @property
    def ok(self) -> bool:
        """At least one alert, one digest and one storm summary arrived; nothing refused."""
        return all(self.total(k) for k in ("alert", "digest", "storm")) and not self.refused

    def table(self) -> str:
        rows: list[tuple[str, ...]] = [("platform", "messages", "alerts", "digests", "storms")]
        for platform in sorted(self.counts):
            c = self.counts[platform]
            rows.append(
                (platform, str(c.total()), str(c["alert"]), str(c["digest"]), str(c["storm"]))
            )
        rows.append(
            (
                "all",
                str(sum(c.total() for c in self.counts.values())),
                *(str(self.total(k)) for k in ("alert", "digest", "storm")),
            )
        )
        return table(rows, numeric=True, total=True)


class _Progress:
    """One line per step, and the inbox's running count (rewritten in place on a terminal)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self.kinds: Counter[str] = Counter()
        self.lock = threading.Lock()

    def step(self, text: str) -> None:
        with self.lock:
            self.out.write(("\r\033[K" if self.live else "") + text + "\n")
            self.out.flush()

    def received(self, kind: str | None) -> None:
        with self.lock:
            self.kinds[kind or "other"] += 1
            if self.live:
                k = self.kinds
                self.out.write(
                    f"\r\033[K  inbox: {k.total()} messages — {k['alert']} alerts, "
                    f"{k['digest']} digests, {k['storm']} storm summaries"
                )
                self.out.flush()


def run_demo(
    inbox_url: str,
    messages: Callable[[], list[Any]],
    *,
    out: TextIO = sys.stdout,
    on_received: list[Callable[[str | None], None]] | None = None,
) -> DemoResult:
    """Run the scenario against the inbox at ``inbox_url``; ``messages()`` lists what it
    has received (``InboxMessage`` objects). ``on_received``, if given, gets a callback
    appended that the inbox should call with each message's kind, for live progress."""
    import uvicorn

    progress = _Progress(out)
    if on_received is not None:
        on_received.append(progress.received)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="erralert-demo-shop-"))
    views = install(scratch)  # the shop's files, as an application has them
    alerter = Alerter(
        demo_webhooks(inbox_url),
        service="shop",
        environment="production",
        release="1.4.3",
        window=WINDOW,
        max_delay=MAX_DELAY,
        shutdown_timeout=10.0,
        links=DEMO_LINKS,
    )
    server = uvicorn.Server(
        uvicorn.Config(make_app(alerter, views), host="127.0.0.1", port=0, log_level="critical")
    )
    thread = threading.Thread(target=server.run, name="erralert-demo-app", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the demo app did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    app_url = f"http://127.0.0.1:{port}"
    result = DemoResult()
    channels = len(alerter.channels)
    progress.step(f"demo shop on {app_url}, alerting {channels} chat platforms in the inbox")
    try:
        # uvicorn closes the connection after an unhandled error: one connection per request
        with httpx.Client(base_url=app_url, headers={"Connection": "close"}) as client:
            sent = itertools.count(1)

            def fail(method: str, path: str) -> None:
                # the request id a load balancer adds: the alert shows it, the logs link uses it
                request_id = f"req-{next(sent):04d}"
                response = client.request(method, path, headers={"X-Request-ID": request_id})
                result.requests += response.status_code == 500

            progress.step(
                "1. three different errors: a declined card, a partner's broken answer, "
                "a division by zero"
            )
            # the declined card's window opens with this first request: the summaries are
            # due WINDOW after it, however long the app took to start on a busy machine
            first_failure = time.monotonic()
            fail("POST", "/orders/1042/pay")
            fail("GET", "/shipping/quote")
            fail("GET", "/reports/daily")
            progress.step(f"2. the declined card again, {BURST} times: one alert, then one digest")
            for i in range(BURST):
                fail("POST", f"/orders/{1043 + i}/pay")
            progress.step(f"3. an error storm: {STORM} warehouses stop answering at once")
            for site in range(STORM):
                fail("GET", f"/stock/{site}")
        progress.step(
            f"4. waiting for the {WINDOW:.0f} s window to end and the summaries to go out"
        )
        time.sleep(max(0.0, first_failure + WINDOW + 2.5 - time.monotonic()))
        alerter.flush(30.0)
        _settle(messages)
    finally:
        server.should_exit = True  # its lifespan's end flushes what is left, then close
        thread.join(10.0)
        alerter.close(10.0)
        shutil.rmtree(scratch, ignore_errors=True)
    for message in messages():
        result.counts.setdefault(message.platform, Counter())
        if message.error:
            result.refused.append(f"{message.platform}: {message.error}")
        else:
            result.counts[message.platform][message.kind or "other"] += 1
    result.seconds = time.monotonic() - started
    progress.step("")
    return result


def _settle(messages: Callable[[], list[Any]], quiet: float = 1.0, limit: float = 20.0) -> None:
    """Wait until the inbox has received nothing new for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    seen, since = len(messages()), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.1)
        now = len(messages())
        if now != seen:
            seen, since = now, time.monotonic()
