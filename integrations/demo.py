"""erralert in one command: a Starlette app under uvicorn with the one line added, a
scripted run of failing requests, and what the team's chat would receive printed to the
terminal (the `console://` channel, paced like a real chat: 4 messages per 10 s).

    python integrations/demo.py

Scenario: one error repeated 30 times (→ 1 alert, then 1 digest of 29 when the 3 s
window ends), then 12 different errors at once (→ as many alerts as the channel can pace
within `max_delay`, the rest folded into one storm summary).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import erralert

WINDOW = 3.0
alerter = erralert.init(
    webhooks=["console://stdout?rate=4/10&name=demo-chat"],
    service="demo-shop",
    environment="demo",
    window=WINDOW,
    max_delay=5.0,
)


def charge(order_id: str) -> None:
    raise ValueError(f"card declined for order {order_id}")


async def pay(request: Request) -> PlainTextResponse:
    charge(request.path_params["order"])
    return PlainTextResponse("paid")


async def storm_site(request: Request) -> PlainTextResponse:
    return await SITES[int(request.path_params["kind"])](request)


def _make_sites() -> list[Callable[[Request], Awaitable[PlainTextResponse]]]:
    sites = []
    for i in range(12):
        namespace: dict[str, Any] = {}
        # one function per error, so each error has its own call site and fingerprint
        exec(
            f"async def stock_{i}(request):\n    raise LookupError('warehouse {i} down')", namespace
        )
        sites.append(namespace[f"stock_{i}"])
    return sites


SITES = _make_sites()

app = Starlette(
    routes=[
        Route("/pay/{order}", pay, methods=["POST"]),
        Route("/storm/{kind}", storm_site),
    ]
)
app.add_middleware(erralert.ASGIMiddleware)  # ← the one line


def main() -> None:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    print(f"demo app on {base}; chat output below\n")

    # uvicorn closes a connection after an unhandled error: one connection per request
    with httpx.Client(base_url=base, headers={"Connection": "close"}) as client:
        statuses = [client.post(f"/pay/{1000 + i}").status_code for i in range(30)]
        failed = statuses.count(500)
        print(f"→ 30 requests to POST /pay/…: {failed} answered 500; the window runs")
        time.sleep(WINDOW + 0.5)
        erralert.flush(5)
        print("→ 12 different errors at once")
        for kind in range(12):
            client.get(f"/storm/{kind}")
    erralert.flush(30)
    server.should_exit = True
    thread.join(5)
    outbox = alerter._outbox
    print(f"\ndelivered {outbox.delivered} messages, {outbox.failed} failed")


if __name__ == "__main__":
    main()
