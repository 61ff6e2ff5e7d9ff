"""The process-wide default alerter behind ``erralert.init()`` and the module functions."""

from __future__ import annotations

import inspect
import threading
from typing import Any

from erralert._alerter.alerter import Alerter
from erralert._capture import process_hooks
from erralert._core.config import env_options
from erralert._core.errors import ConfigError
from erralert._core.safelog import safe_logger

__all__ = [
    "Reporter",
    "capture_exception",
    "capture_message",
    "close",
    "current",
    "flush",
    "get_alerter",
    "init",
]

logger = safe_logger()
_lock = threading.Lock()
_default: Alerter | None = None
_OPTIONS = frozenset(inspect.signature(Alerter).parameters)


def init(*, excepthooks: bool = False, **options: Any) -> Alerter:
    """Build the process-wide alerter and install it as the default. Keyword options win
    over the ``ERRALERT_*`` environment variables. A previous default is closed.

    ``excepthooks=True`` also reports what nothing else catches — uncaught exceptions of
    the main thread, of other threads and of asyncio tasks — for scripts and cron jobs:

    >>> erralert.init(excepthooks=True)
    """
    global _default
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
    alerter = Alerter(**{**env_options(), **options})
    with _lock:
        previous, _default = _default, alerter
    if previous is not None:
        previous.close()
    if excepthooks:
        # the hooks report to whatever the default alerter is at the time
        process_hooks.install(lambda: resolve(None))
    return alerter


def current() -> Alerter | None:
    """The default alerter if one exists, without building one."""
    return _default


def get_alerter() -> Alerter:
    """The default alerter; built from the environment on first use."""
    global _default
    alerter = _default
    if alerter is not None:
        return alerter
    with _lock:
        if _default is None:
            _default = Alerter(**env_options())
        return _default


def capture_exception(exc: BaseException | None = None, **context: Any) -> str | None:
    """Report ``exc`` (default: the exception being handled) on the default alerter."""
    alerter = resolve(None)
    return alerter.capture_exception(exc, **context) if alerter is not None else None


def capture_message(text: str, level: str = "error", **context: Any) -> str | None:
    """Report a message on the default alerter."""
    alerter = resolve(None)
    return alerter.capture_message(text, level, **context) if alerter is not None else None


def resolve(alerter: Alerter | None) -> Alerter | None:
    """``alerter``, else the default one; None (and one log line) when the environment's
    configuration is broken, because capture time must never raise into the app."""
    if alerter is not None:
        return alerter
    try:
        return get_alerter()
    except Exception as exc:
        global _broken_logged
        if not _broken_logged:
            _broken_logged = True
            logger.error("erralert: cannot build the default alerter: %s", exc)
        return None


_broken_logged = False


def flush(timeout: float = 10.0) -> bool:
    """Send due digests and wait until the default alerter's queue is delivered."""
    return _default.flush(timeout) if _default is not None else True


def close(timeout: float | None = None) -> bool:
    """Flush and stop the default alerter; the next use builds a new one."""
    global _default
    with _lock:
        alerter, _default = _default, None
    return alerter.close(timeout) if alerter is not None else True


class Reporter:
    """Base of the middlewares and integrations: an explicit alerter, one built from
    ``**options``, or the default one, resolved at report time."""

    def __init__(self, alerter: Alerter | None = None, **options: Any) -> None:
        self._alerter = alerter if alerter is not None or not options else Alerter(**options)

    @property
    def alerter(self) -> Alerter | None:
        """The alerter in use (the default one unless given); None if it can't be built."""
        return resolve(self._alerter)

    @property
    def own_alerter(self) -> Alerter | None:
        """The alerter given or built from options; None when it is the default one."""
        return self._alerter

    def report(self, exc: BaseException, request: Any = None) -> None:
        alerter = resolve(self._alerter)
        if alerter is not None:
            alerter.capture_exception(exc, request=request)
