"""A realistic error for showing what chat will receive: `erralert preview`, `erralert check`
(which renders every channel's templates once) and `erralert send-test` use it.

The sample is built by hand rather than raised, so that it reads like an application's
error (``shop/payments/charge.py``), not like erralert's own code, and so that a preview
is the same on every machine at a given time.
"""

from __future__ import annotations

from erralert._core.event import Event, ExceptionInfo, Frame, Request
from erralert._core.notice import Kind, Notice, Occurrences, Storm, StormGroup

__all__ = ["KINDS", "sample_event", "sample_notice", "sample_notices"]

KINDS: tuple[Kind, ...] = ("alert", "digest", "storm")
WINDOW = 300.0  # the default window: the digest reports the five minutes after the alert

_STACK = (
    (
        "uvicorn/protocols/http/httptools_impl.py",
        "uvicorn.protocols.http.httptools_impl",
        "RequestResponseCycle.run_asgi",
        409,
        "result = await app(  # type: ignore[func-returns-value]",
        False,
    ),
    (
        "starlette/routing.py",
        "starlette.routing",
        "Route.handle",
        74,
        "await self.app(scope, receive, send)",
        False,
    ),
    (
        "shop/api/orders.py",
        "shop.api.orders",
        "pay",
        58,
        "receipt = charge_order(order, card)",
        True,
    ),
    (
        "shop/payments/service.py",
        "shop.payments.service",
        "charge_order",
        31,
        "return gateway.charge(order.total, card.token)",
        True,
    ),
    (
        "shop/payments/gateway.py",
        "shop.payments.gateway",
        "Gateway.charge",
        112,
        "self._raise_for(answer)",
        True,
    ),
    (
        "shop/payments/gateway.py",
        "shop.payments.gateway",
        "Gateway._raise_for",
        140,
        'raise PaymentDeclined(f"card declined for order {answer.order_id}: {answer.reason}")',
        True,
    ),
)


def _frames() -> tuple[Frame, ...]:
    return tuple(
        Frame(
            filename=filename,
            abs_path=("/srv/venv/lib/python3.12/site-packages/" if not in_app else "/srv/")
            + filename,
            lineno=lineno,
            function=function,
            module=module,
            context_line=line,
            in_app=in_app,
        )
        for filename, module, function, lineno, line, in_app in _STACK
    )


def sample_event(
    now: float, *, service: str | None = "checkout", environment: str | None = "production"
) -> Event:
    """A card payment declined inside a Starlette route, as erralert captures it (request
    headers already scrubbed)."""
    frames = _frames()
    message = "card declined for order 1042: insufficient_funds"
    exception = ExceptionInfo(
        type="PaymentDeclined", module="shop.payments.errors", message=message, frames=frames
    )
    innermost = frames[-1]
    traceback = "Traceback (most recent call last):\n"
    traceback += "".join(
        f'  File "{f.abs_path}", line {f.lineno}, in {f.function}\n    {f.context_line}\n'
        for f in frames
    )
    traceback += f"shop.payments.errors.PaymentDeclined: {message}"
    return Event(
        event_id="5f0c2a9e0b7d4c1e9a3b6d8f1e2c4a7b",
        timestamp=now,
        level="error",
        title=f"PaymentDeclined: {message}",
        message=None,
        exceptions=(exception,),
        culprit=f"{innermost.module}.{innermost.function} "
        f"({innermost.filename}:{innermost.lineno})",
        traceback=traceback,
        request=Request(
            method="POST",
            url="https://shop.example.com/api/orders/1042/pay?retry=1",
            path="/api/orders/1042/pay",
            route="/api/orders/{order_id}/pay",
            query={"retry": "1"},
            headers={
                "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)",
                "authorization": "[Filtered]",
                "x-request-id": "req-7f3a9c",
            },
            client_ip="203.0.113.7",
            user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)",
            request_id="req-7f3a9c",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            user="u-19",
        ),
        service=service,
        environment=environment,
        release="1.4.3",
        host="web-1",
        pid=4242,
        tags={"order_id": "1042", "payment_provider": "stripe"},
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        fingerprint="9b1c0e7d5a3f2e1d0c9b8a7f6e5d4c3b",
    )


def sample_notice(kind: Kind, event: Event, *, window: float = WINDOW) -> Notice:
    """``event`` as an alert of a new error, the digest of its repeats in the window that
    followed (sent at the window's end), or a storm summary of a dozen errors folded while
    the channel's rate limit was spent (``event`` the first of them)."""
    start = event.timestamp
    if kind == "alert":
        occurrences = Occurrences(
            count=1,
            total=1,
            first_seen=start,
            last_seen=start,
            window=window,
            is_new=True,
            window_start=start,
            window_end=start + window,
            status="new",
            since=start,
            first_release=event.release,
        )
        return Notice("alert", event, occurrences, created_at=start, mentions=True)
    if kind == "digest":
        # repeats of a payment outage: many at first, tailing off as retries give up
        histogram = (41, 30, 22, 15, 11, 8, 5, 3, 2, 1)
        occurrences = Occurrences(
            count=sum(histogram),
            total=sum(histogram) + 1,
            first_seen=start + 2,
            last_seen=start + window - 12,
            window=window,
            is_new=False,
            window_start=start,
            window_end=start + window,
            histogram=histogram,
            status="recurring",
            since=start,
            first_release=event.release,
            last_release=event.release,
        )
        return Notice("digest", event, occurrences, created_at=start + window)
    groups = tuple(
        StormGroup(
            title=title,
            culprit=culprit,
            count=count,
            fingerprint=f"storm-{i}",
            type=title.partition(":")[0],
            is_new=is_new,
            code=_CODE.get(culprit, ""),
        )
        for i, (title, culprit, count, is_new) in enumerate(_STORM)
    )
    total = sum(g.count for g in groups)
    occurrences = Occurrences(
        count=total,
        total=total,
        first_seen=start,
        last_seen=start + 45,
        window=window,
        is_new=False,
        status="recurring",
    )
    followups = min(5, sum(1 for g in groups if g.is_new))  # their full alerts follow
    storm = Storm(groups=groups, total=total, since=start, until=start + 45, followups=followups)
    return Notice("storm", event, occurrences, storm=storm, created_at=start + 48)


# a database failover: every code path that touches the database fails at once (twelve
# callers of the pool, each its own error, all at the same culprit), and what fails with it
_POOL = "shop.db.pool.connect (shop/db/pool.py:88)"
# the culprits' source lines
_CODE = {
    _POOL: "conn = psycopg.connect(self.dsn, connect_timeout=2)",
    "shop.stock.client.reserve (shop/stock/client.py:64)": (
        'answer = self._http.post(f"/reserve/{sku}", timeout=5.0)'
    ),
    "shop.api.orders.summary (shop/api/orders.py:97)": 'address = order.meta["shipping_address"]',
    "shop.partners.quotes.parse (shop/partners/quotes.py:19)": "quote = json.loads(body)",
    "shop.payments.gateway.Gateway._raise_for (shop/payments/gateway.py:140)": (
        'raise PaymentDeclined(f"card declined for order {answer.order_id}: {answer.reason}")'
    ),
}
_STORM: tuple[tuple[str, str, int, bool], ...] = (
    *(
        ("OperationalError: could not connect to server: Connection refused", _POOL, n, False)
        for n in (40, 31, 28, 22, 20, 18, 15, 12, 10, 8, 5, 3)
    ),
    (
        "PaymentDeclined: card declined for order 1042: insufficient_funds",
        "shop.payments.gateway.Gateway._raise_for (shop/payments/gateway.py:140)",
        57,
        False,
    ),
    (
        "TimeoutError: inventory service did not answer within 5 s",
        "shop.stock.client.reserve (shop/stock/client.py:64)",
        43,
        True,
    ),
    ("KeyError: 'shipping_address'", "shop.api.orders.summary (shop/api/orders.py:97)", 12, True),
    (
        "ValueError: invalid coupon code 'XMAS2026'",
        "shop.pricing.coupons.apply (shop/pricing/coupons.py:23)",
        4,
        False,
    ),
    (
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        "shop.mail.smtp.send (shop/mail/smtp.py:41)",
        3,
        False,
    ),
    (
        "JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        "shop.partners.quotes.parse (shop/partners/quotes.py:19)",
        2,
        True,
    ),
    (
        "ZeroDivisionError: division by zero",
        "shop.reports.daily.average_order (shop/reports/daily.py:12)",
        2,
        False,
    ),
    (
        "AttributeError: 'NoneType' object has no attribute 'email'",
        "shop.accounts.views.profile (shop/accounts/views.py:77)",
        1,
        False,
    ),
    ("IndexError: list index out of range", "shop.search.rank (shop/search/rank.py:150)", 1, False),
)


def sample_notices(event: Event, *, window: float = WINDOW) -> dict[Kind, Notice]:
    """Every kind of message for one event, in the order chat would receive them."""
    return {kind: sample_notice(kind, event, window=window) for kind in KINDS}
