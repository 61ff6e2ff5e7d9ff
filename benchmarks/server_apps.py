"""The FastAPI app that ``benchmarks.realserver`` serves with uvicorn, in three variants.

``BENCH_SERVER_VARIANT`` picks the variant and ``BENCH_SERVER_SINK`` the base URL of the local
sink (``http://127.0.0.1:PORT``), both read when uvicorn imports ``benchmarks.server_apps:app``:

- ``bare``: the app alone;
- ``erralert``: the README's setup, ``erralert.init(webhooks=["webhook+<sink>/hook"])`` then
  ``app.add_middleware(erralert.ASGIMiddleware)``;
- ``sentry``: ``sentry_sdk.init(dsn=<the sink as a project>, traces_sample_rate=0)`` before the
  app is built, default integrations (its FastAPI integration enables itself), as sentry-sdk's
  FastAPI guide says.

``GET /`` answers a small JSON document; ``GET /fail/{kind}`` raises an unhandled exception of
one of the ``FAILURES`` (distinct errors: each groups and alerts on its own), a 500. The
load generator (``benchmarks.loadgen``) decides which requests fail.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from benchmarks.loadgen import KINDS, WARMUP_FAILURE

VARIANTS = ("bare", "erralert", "sentry")


def _failure(name: str) -> type[RuntimeError]:
    return type(name, (RuntimeError,), {"__module__": __name__, "__qualname__": name})


FAILURES: dict[str, type[RuntimeError]] = {
    kind: _failure(f"Failure{kind.capitalize()}")
    for kind in [*(str(i) for i in range(KINDS)), WARMUP_FAILURE]
}


def build_app(variant: str, sink: str) -> FastAPI:
    """The app of ``variant``, reporting to the sink at ``sink`` (``http://host:port``)."""
    if variant not in VARIANTS:
        raise ValueError(f"BENCH_SERVER_VARIANT must be one of {VARIANTS}, got {variant!r}")
    if variant == "sentry":
        import sentry_sdk

        host = sink.removeprefix("http://")
        sentry_sdk.init(dsn=f"http://public@{host}/1", traces_sample_rate=0)

    app = FastAPI()

    @app.get("/")
    async def index() -> dict[str, object]:
        return {"ok": True, "service": "bench"}

    @app.get("/fail/{kind}")
    async def fail(kind: str) -> dict[str, object]:
        raise FAILURES[kind](f"request failed on purpose: {kind}")

    if variant == "erralert":
        import erralert

        erralert.init(webhooks=[f"webhook+{sink}/hook"])
        app.add_middleware(erralert.ASGIMiddleware)
    return app


app = build_app(
    os.environ.get("BENCH_SERVER_VARIANT", "bare"),
    os.environ.get("BENCH_SERVER_SINK", "http://127.0.0.1:9"),
)
