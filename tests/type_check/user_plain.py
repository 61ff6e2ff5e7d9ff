"""The framework-free lines: scripts and cron jobs, a plain WSGI app, the logging handler."""

import logging
from wsgiref.types import WSGIApplication

import erralert


def scripts() -> None:
    erralert.init(excepthooks=True)


def wsgi(app: WSGIApplication) -> WSGIApplication:
    app = erralert.WSGIMiddleware(app)
    return app


def logs() -> None:
    logging.getLogger().addHandler(erralert.LoggingHandler())
