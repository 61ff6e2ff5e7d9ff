"""A small Celery app with erralert: a task that fails, one whose error is expected, and one
that retries before it succeeds. Configured from the environment (ERRALERT_WEBHOOKS,
ERRALERT_WINDOW …, CELERY_BROKER_URL, CELERY_RESULT_BACKEND).

    export CELERY_BROKER_URL=redis://localhost:6379/0 ERRALERT_WEBHOOKS=slack://T000/B000/XXXX
    celery -A integrations.celery_app worker --pool=prefork --concurrency=2 --loglevel=warning

Then, from a Python shell with the same environment:

    >>> from integrations.celery_app import charge, reserve, sync_stock
    >>> charge.delay(42)          # ValueError in the worker → one alert (repeats: a digest)
    >>> reserve.delay("ghost")    # OutOfStock is in `throws` → expected, no alert
    >>> sync_stock.delay(2)       # retries twice (Retry), then succeeds → no alert
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

import erralert.integrations.celery

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")

app = Celery("shop", broker=BROKER, backend=os.environ.get("CELERY_RESULT_BACKEND", BROKER))
app.conf.broker_connection_retry_on_startup = True
erralert.integrations.celery.init_celery(app)  # erralert: the one line


class OutOfStock(Exception):
    """An expected outcome: the caller handles it, nobody needs to be woken up."""


def charge_card(order_id: int, card_token: str) -> None:
    raise ValueError(f"card declined for order {order_id}")


@app.task(name="shop.charge")
def charge(order_id: int, card_token: str = "tok_live_4242") -> str:
    charge_card(order_id, card_token)
    return "charged"


@app.task(name="shop.reserve", throws=(OutOfStock,))
def reserve(sku: str) -> str:
    raise OutOfStock(f"no stock left for {sku}")


@app.task(name="shop.sync_stock", bind=True, max_retries=5)
def sync_stock(self: Any, failures: int) -> str:
    # the supplier's API is flaky: the first `failures` attempts fail, then it answers
    if self.request.retries < failures:
        raise self.retry(countdown=0.1)
    return f"synced after {self.request.retries} retries"


@app.task(name="shop.ping")
def ping() -> str:
    return "pong"
