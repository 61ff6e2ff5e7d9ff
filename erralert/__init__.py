"""erralert: unhandled exceptions to your team's chat within seconds — grouped,
rate-limited, templated.

>>> import erralert
>>> erralert.init(webhooks=["https://oapi.dingtalk.com/robot/send?access_token=…"])
>>> app.add_middleware(erralert.ASGIMiddleware)
"""

from __future__ import annotations

from erralert import testing
from erralert.alerter import Alerter
from erralert.asgi import ASGIMiddleware
from erralert.default import (
    capture_exception,
    capture_message,
    close,
    flush,
    get_alerter,
    init,
)
from erralert.errors import ConfigError
from erralert.logging import LoggingHandler
from erralert.wsgi import WSGIMiddleware

__version__ = "0.1.0"

__all__ = [
    "ASGIMiddleware",
    "Alerter",
    "ConfigError",
    "LoggingHandler",
    "WSGIMiddleware",
    "__version__",
    "capture_exception",
    "capture_message",
    "close",
    "flush",
    "get_alerter",
    "init",
    "testing",
]
