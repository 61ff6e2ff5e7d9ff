"""Exceptions erralert raises itself."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """Bad configuration: a malformed webhook URL, an unknown option, a template that
    does not compile. Raised at ``init()``/``Alerter()`` time, never while capturing."""
