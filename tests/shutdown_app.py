"""An ASGI app for the shutdown tests under real servers (tests/e2e/test_shutdown_e2e.py).

``unwrapped`` and ``wrapped`` (in erralert's middleware, whose webhook is
``SHUTDOWN_APP_WEBHOOK``, waiting at most ``SHUTDOWN_APP_TIMEOUT`` seconds at the end of
the lifespan) answer ``/ok`` and fail on ``/fail``. From its lifespan's start until the
process ends, a task of the app's event loop writes the time to ``SHUTDOWN_APP_TICKS``
every 20 ms: the lines show whether the loop served it while the lifespan ended. The
lifespan's end writes ``shutdown <time>`` there first.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import erralert

TICK = 0.02


class App:
    def __init__(self) -> None:
        self._ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["path"] == "/fail":
            raise KeyError("order-42")
        else:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._ticker = asyncio.create_task(_tick(os.environ["SHUTDOWN_APP_TICKS"]))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                _write(os.environ["SHUTDOWN_APP_TICKS"], f"shutdown {time.time()}")
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _tick(path: str) -> None:
    while True:
        _write(path, str(time.time()))
        await asyncio.sleep(TICK)


def _write(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as ticks:
        ticks.write(line + "\n")


unwrapped = App()
wrapped = erralert.ASGIMiddleware(
    App(),
    webhooks=[os.environ.get("SHUTDOWN_APP_WEBHOOK", "console://")],
    shutdown_timeout=float(os.environ.get("SHUTDOWN_APP_TIMEOUT", "2")),
)
