"""A small Flask shop with erralert: failing routes, a failing stream, and a 404 that
stays quiet. Configured from the environment (ERRALERT_WEBHOOKS, ERRALERT_WINDOW …).

    ERRALERT_WEBHOOKS=slack://T000/B000/XXXX gunicorn integrations.flask_app:app -w 2
    ERRALERT_WEBHOOKS=slack://T000/B000/XXXX python integrations/flask_app.py

Then:  curl -X POST localhost:8000/orders/42/pay   → 500, one alert
       curl localhost:8000/inventory/ghost-sku     → 500, one alert (another error)
       curl localhost:8000/orders/42/export        → the CSV breaks midway, one alert
       curl localhost:8000/orders/999              → 404, no alert
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from flask import Flask, Response, abort, stream_with_context

import erralert.integrations.flask

app = Flask(__name__)
erralert.integrations.flask.init_app(app)  # erralert: the one line

ORDERS = {42: [("espresso", 3), ("croissant", 2)]}
STOCK = {"espresso": 12, "croissant": 0}


class PaymentDeclined(Exception):
    pass


def charge(order_id: int) -> None:
    raise PaymentDeclined(f"card declined for order {order_id}")


@app.post("/orders/<int:order_id>/pay")
def pay(order_id: int) -> str:
    charge(order_id)
    return "paid"


@app.get("/orders/<int:order_id>")
def order(order_id: int) -> dict[str, int]:
    if order_id not in ORDERS:
        abort(404)  # an answer, not a failure: no alert
    return dict(ORDERS[order_id])


@app.get("/inventory/<sku>")
def inventory(sku: str) -> str:
    return str(STOCK[sku])  # KeyError for an unknown sku


@app.get("/orders/<int:order_id>/export")
def export(order_id: int) -> Response:
    def rows() -> Iterator[str]:
        yield "item,quantity\n"
        for item, quantity in ORDERS.get(order_id, []):
            yield f"{item},{quantity}\n"
        # the error happens after Flask sent the headers: no 500 possible any more
        raise RuntimeError("warehouse feed went away while exporting")

    return Response(stream_with_context(rows()), mimetype="text/csv")


@app.get("/health")
def health() -> str:
    return "ok"


if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "8000")))
