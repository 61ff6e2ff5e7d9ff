"""A small FastAPI shop with erralert: failing routes (one in an included router, one in a
mounted sub-app), a failing stream, and a 404 that stays quiet. Configured from the
environment (ERRALERT_WEBHOOKS, ERRALERT_WINDOW …).

    ERRALERT_WEBHOOKS=slack://T000/B000/XXXX uvicorn integrations.fastapi_app:app
    ERRALERT_WEBHOOKS=slack://T000/B000/XXXX python integrations/fastapi_app.py

Then:  curl -X POST localhost:8000/orders/42/pay     → 500, one alert
       curl localhost:8000/api/v1/inventory/ghost  → 500, one alert (another error)
       curl localhost:8000/admin/jobs/7              → 500, one alert (a mounted sub-app)
       curl localhost:8000/orders/42/export          → the CSV breaks midway, one alert
       curl localhost:8000/orders/999                → 404, no alert

The alerts name the route templates: /orders/{order_id}/pay,
/api/{version}/inventory/{sku}, /admin/jobs/{job_id}, /orders/{order_id}/export.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import StreamingResponse

import erralert

app = FastAPI(title="erralert FastAPI reference app")
app.add_middleware(erralert.ASGIMiddleware)  # erralert: the one line

ORDERS = {42: [("espresso", 3), ("croissant", 2)]}
STOCK = {"espresso": 12, "croissant": 0}


class PaymentDeclined(Exception):
    pass


def charge(order_id: int) -> None:
    raise PaymentDeclined(f"card declined for order {order_id}")


@app.post("/orders/{order_id}/pay")
def pay(order_id: int) -> dict[str, str]:
    charge(order_id)
    return {"status": "paid"}


@app.get("/orders/{order_id}")
def order(order_id: int) -> dict[str, int]:
    if order_id not in ORDERS:
        raise HTTPException(404, "no such order")  # an answer, not a failure: no alert
    return dict(ORDERS[order_id])


@app.get("/orders/{order_id}/export")
def export(order_id: int) -> StreamingResponse:
    def rows() -> Iterator[str]:
        yield "item,quantity\n"
        for item, quantity in ORDERS.get(order_id, []):
            yield f"{item},{quantity}\n"
        raise RuntimeError(f"export of order {order_id} lost its database cursor")

    return StreamingResponse(rows(), media_type="text/csv")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


inventory = APIRouter(prefix="/inventory")


@inventory.get("/{sku}")
async def stock(sku: str) -> dict[str, int]:
    return {sku: STOCK[sku]}  # KeyError for an unknown sku


app.include_router(inventory, prefix="/api/{version}")

admin = FastAPI(title="admin")


@admin.get("/jobs/{job_id}")
def job(job_id: int) -> dict[str, str]:
    raise TimeoutError(f"job {job_id} did not answer in 30 s")


app.mount("/admin", admin)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
