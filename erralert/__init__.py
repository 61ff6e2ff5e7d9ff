"""erralert: unhandled exceptions to your team's chat within seconds — grouped,
rate-limited, templated.

>>> import erralert
>>> erralert.init(webhooks=["https://oapi.dingtalk.com/robot/send?access_token=…"])
>>> app.add_middleware(erralert.ASGIMiddleware)
"""

from __future__ import annotations

from erralert import testing
from erralert._alerter.alerter import Alerter
from erralert._core.errors import ConfigError
from erralert._default import (
    capture_exception,
    capture_message,
    close,
    flush,
    get_alerter,
    init,
)
from erralert._delivery.prometheus import prometheus_text
from erralert._delivery.stats import ChannelStats, Stats
from erralert.integrations.asgi import ASGIMiddleware
from erralert.integrations.logging import LoggingHandler
from erralert.integrations.wsgi import WSGIMiddleware

__version__ = "0.1.0"

__all__ = [
    "ASGIMiddleware",
    "Alerter",
    "ChannelStats",
    "ConfigError",
    "LoggingHandler",
    "Stats",
    "WSGIMiddleware",
    "__version__",
    "capture_exception",
    "capture_message",
    "close",
    "flush",
    "get_alerter",
    "init",
    "prometheus_text",
    "testing",
]
