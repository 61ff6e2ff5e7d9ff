"""FastAPI and Starlette apps, with the ASGI middleware added and wrapped around an app."""

from fastapi import FastAPI
from starlette.applications import Starlette

import erralert
import erralert.integrations.starlette
from erralert.integrations.starlette import ErrAlertMiddleware


def fastapi() -> FastAPI:
    app = FastAPI()
    app.add_middleware(erralert.ASGIMiddleware)
    return app


def starlette() -> list[Starlette]:
    app = Starlette()
    app.add_middleware(ErrAlertMiddleware, capture_http_5xx=True)
    site = Starlette()
    site.add_middleware(erralert.ASGIMiddleware, alerter=erralert.Alerter(["console://"]))
    raw = Starlette()
    raw.add_middleware(erralert.integrations.starlette.ErrAlertMiddleware, capture_http_5xx=True)
    return [app, site, raw]


def wrapped(app: Starlette) -> list[erralert.ASGIMiddleware]:
    return [
        erralert.ASGIMiddleware(app),
        erralert.ASGIMiddleware(app, webhooks=["console://"]),
        erralert.integrations.starlette.ErrAlertMiddleware(app, capture_http_5xx=True),
    ]
