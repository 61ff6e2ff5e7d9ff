"""A small Litestar shop with erralert: failing routes (one in a router), a failing stream,
and a 404 that stays quiet. Configured from the environment (ERRALERT_WEBHOOKS,
ERRALERT_WINDOW …).

    ERRALERT_WEBHOOKS=slack://T000/B000/XXXX uvicorn integrations.litestar_app:app
    ERRALERT_WEBHOOKS=slack://T000/B000/XXXX python integrations/litestar_app.py

Then:  curl -X POST localhost:8000/orders/42/pay     → 500, one alert
       curl localhost:8000/api/v1/inventory/ghost  → 500, one alert (another error)
       curl localhost:8000/orders/42/export          → the CSV breaks midway, one alert
       curl localhost:8000/orders/999                → 404, no alert

The alerts name the route templates: /orders/{order_id}/pay,
/api/{version}/inventory/{sku}, /orders/{order_id}/export.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from litestar import Litestar, Router, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Stream

from erralert.integrations.litestar import ErrAlertPlugin

ORDERS = {42: [("espresso", 3), ("croissant", 2)]}
STOCK = {"espresso": 12, "croissant": 0}


class PaymentDeclined(Exception):
    pass


def charge(order_id: int) -> None:
    raise PaymentDeclined(f"card declined for order {order_id}")


@post("/orders/{order_id:int}/pay")
async def pay(order_id: int) -> dict[str, str]:
    charge(order_id)
    return {"status": "paid"}


@get("/orders/{order_id:int}")
async def order(order_id: int) -> dict[str, int]:
    if order_id not in ORDERS:
        raise NotFoundException("no such order")  # an answer, not a failure: no alert
    return dict(ORDERS[order_id])


@get("/orders/{order_id:int}/export", media_type="text/csv")
async def export(order_id: int) -> Stream:
    async def rows() -> AsyncIterator[str]:
        yield "item,quantity\n"
        for item, quantity in ORDERS.get(order_id, []):
            yield f"{item},{quantity}\n"
        raise RuntimeError(f"export of order {order_id} lost its database cursor")

    return Stream(rows())


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/inventory/{sku:str}")
async def stock(sku: str) -> dict[str, int]:
    return {sku: STOCK[sku]}  # KeyError for an unknown sku


api = Router("/api/{version:str}", route_handlers=[stock])
HANDLERS = [pay, order, export, health, api]

app = Litestar(
    HANDLERS,
    plugins=[ErrAlertPlugin()],  # erralert: the one line
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
