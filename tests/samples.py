"""Fixed, realistic notices for channel tests: the same input for every platform, so that
golden payloads and cross-platform properties compare like with like."""

from __future__ import annotations

import dataclasses
from typing import Any

import erralert
from erralert._core.event import Event, ExceptionInfo, Frame, Request
from erralert._core.notice import Kind, Notice, Occurrences, Storm, StormGroup
from erralert.testing import CapturedAlert, capture_alerts

NOW = 1795717201.0  # 2026-11-26 18:20:01 UTC
HOSTILE = (
    '<!channel> @everyone @all <at user_id="all">all</at> <@U123> <users/all> '
    "*bold* _x_ [a](http://evil.example) <b>bold</b> &amp; `tick` ~~s~~ # head"
)


def frame(i: int, *, in_app: bool = True, line: str | None = None) -> Frame:
    return Frame(
        filename=f"shop/checkout/step_{i}.py",
        abs_path=f"/srv/shop/checkout/step_{i}.py",
        lineno=10 + i,
        function=f"step_{i}",
        module=f"shop.checkout.step_{i}",
        context_line=line or f"return step_{i + 1}(order)",
        in_app=in_app,
    )


def event(
    message: str = "card declined for order 1042",
    *,
    frames: int = 6,
    exc_type: str = "PaymentError",
) -> Event:
    raising = f'raise {exc_type}(f"card declined for order {{order.id}}")'
    stack = (*(frame(i) for i in range(frames - 1)), frame(frames - 1, line=raising))
    innermost = stack[-1]
    exception = ExceptionInfo(type=exc_type, module="shop.errors", message=message, frames=stack)
    title_line = message.splitlines()[0] if message else ""
    return Event(
        event_id="5f0c2a9e0b7d4c1e9a3b6d8f1e2c4a7b",
        timestamp=NOW,
        level="error",
        title=f"{exc_type}: {title_line}"[:200],
        message=None,
        exceptions=(exception,),
        culprit=f"{innermost.module}.{innermost.function} "
        f"({innermost.filename}:{innermost.lineno})",
        traceback="Traceback (most recent call last):\n"
        + "".join(
            f'  File "{f.abs_path}", line {f.lineno}, in {f.function}\n    {f.context_line}\n'
            for f in stack
        )
        + f"shop.errors.{exc_type}: {message}",
        request=Request(
            method="POST",
            url="https://shop.example/pay/1042?coupon=XMAS",
            path="/pay/1042",
            route="/pay/{order}",
            query={"coupon": "XMAS"},
            headers={"user-agent": "Mozilla/5.0", "authorization": "[Filtered]"},
            client_ip="203.0.113.7",
            user_agent="Mozilla/5.0",
            request_id="req-7f3a",
        ),
        service="checkout",
        environment="production",
        release="3f2a9c1b7d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a",
        host="web-1",
        pid=4242,
        fingerprint="9b1c0e7d5a3f2e1d0c9b8a7f6e5d4c3b",
    )


def notice(kind: Kind = "alert", sample: Event | None = None, *, mentions: bool = False) -> Notice:
    sample = sample or event()
    if kind == "alert":
        occ = Occurrences(
            count=1,
            total=1,
            first_seen=NOW,
            last_seen=NOW,
            window=300.0,
            is_new=True,
            window_start=NOW,
            window_end=NOW + 300,
            status="new",
            since=NOW,
        )
        return Notice("alert", sample, occ, created_at=NOW, mentions=mentions)
    if kind == "digest":
        occ = Occurrences(
            count=99,
            total=100,
            first_seen=NOW + 2,
            last_seen=NOW + 290,
            window=300.0,
            is_new=False,
            window_start=NOW,
            window_end=NOW + 300,
            histogram=(30, 22, 15, 10, 8, 6, 4, 2, 1, 1),
            status="recurring",
            since=NOW,
        )
        return Notice("digest", sample, occ, created_at=NOW + 300)
    groups = tuple(
        StormGroup(
            title=f"LookupError: warehouse {i} down",
            culprit=f"shop.stock.check_{i} (shop/stock.py:{20 + i})",
            count=40 - i * 3,
            fingerprint=f"fp{i}",
        )
        for i in range(12)
    )
    total = sum(g.count for g in groups)
    occ = Occurrences(
        count=total,
        total=total,
        first_seen=NOW,
        last_seen=NOW + 2,
        window=300.0,
        is_new=False,
        status="recurring",
    )
    storm = Storm(groups=groups, total=total, since=NOW, until=NOW + 2)
    return Notice("storm", sample, occ, storm=storm, created_at=NOW + 2)


def fleet_digest(sample: Event | None = None, **origins: Any) -> Notice:
    """The sample digest, its repeats counted by several processes (``origins``: the
    ``Occurrences`` fields that say where they came from; by default 3 hosts, 8 processes,
    a rollout from 1.4.2 to 1.4.3 and a hotfix whose name holds markdown)."""
    digest = notice("digest", sample)
    fields = {"hosts": 3, "processes": 8, "releases": ("1.4.2", "1.4.3", "hotfix_*2*")}
    fields.update(origins)
    return dataclasses.replace(
        digest, occurrences=dataclasses.replace(digest.occurrences, **fields)
    )


def huge_event() -> Event:
    """A real exception through the real capture path: a 1 MB message raised 500 frames
    deep (erralert's own caps on messages and frames apply, as they do in production)."""
    from erralert._capture.events import build_exception_event
    from erralert._capture.scrub import Scrubber

    def step_(depth: int) -> None:
        if depth == 0:
            raise PaymentErrorForTests("x" * 1_000_000)
        step_(depth - 1)

    try:
        step_(499)
    except PaymentErrorForTests as exc:
        return Scrubber().event(build_exception_event(exc, now=NOW))
    raise AssertionError("unreachable")


class PaymentErrorForTests(Exception):
    pass


def alerts_for(
    alerter: erralert.Alerter, error: BaseException, **context: Any
) -> list[CapturedAlert]:
    """What ``alerter`` would send for ``error``, raised here and captured with ``context``
    (``request=``, ``tags=`` …); the alerter is closed afterwards."""
    try:
        with capture_alerts(alerter) as alerts:
            try:
                raise error
            except BaseException as exc:
                alerter.capture_exception(exc, **context)
    finally:
        alerter.close(0.1)
    return alerts
