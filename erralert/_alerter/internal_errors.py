"""erralert's own failures (a broken hook, a store that raised, a tick that failed): they
go to the ``erralert`` logger — never into the app — once per interval per kind, so that
a failure repeated on every capture does not flood the app's logs."""

from __future__ import annotations

import time

from erralert._core.safelog import safe_logger

__all__ = ["InternalErrors"]

logger = safe_logger()

_LOG_INTERVAL = 60.0  # seconds between two log lines of one kind


class InternalErrors:
    """One alerter's own failures, logged once per ``_LOG_INTERVAL`` per place and type."""

    def __init__(self) -> None:
        self._logged: dict[str, float] = {}  # kind -> time.monotonic() of its last line

    def report(self, where: str, error: BaseException) -> None:
        key = f"{where}:{type(error).__name__}"
        now = time.monotonic()
        if now - self._logged.get(key, -_LOG_INTERVAL) < _LOG_INTERVAL:
            return
        self._logged[key] = now
        logger.error("erralert: %s failed: %s: %s", where, type(error).__name__, error)
