"""The README's "Counters" route for Starlette (FastAPI's app takes it alike), verbatim after
the app it is added to."""

# the README's block comes whole, its imports first, after the user's app (and erralert is
# a third-party package in a user's project, sorted among the others)
# ruff: noqa: E402, I001

from starlette.applications import Starlette

app = Starlette()

import erralert
from starlette.requests import Request
from starlette.responses import Response


def erralert_metrics(request: Request) -> Response:
    text = erralert.prometheus_text(erralert.get_alerter().stats())
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


app.add_route("/metrics/erralert", erralert_metrics)
