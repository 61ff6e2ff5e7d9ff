"""``LoggingHandler``: ``logger.exception(...)`` and ``logger.error(...)`` to chat."""

from __future__ import annotations

import logging
from typing import Any

from erralert.alerter import Alerter
from erralert.default import Reporter, resolve

__all__ = ["LoggingHandler"]

# records from these loggers are never alerted: a failed alert logged by erralert or by
# its HTTP client must not trigger another alert
_IGNORED_LOGGERS = ("erralert", "httpx", "httpcore", "hpack", "h2")


class LoggingHandler(Reporter, logging.Handler):
    """A logging handler that sends records at ``level`` and above to chat.

    >>> logging.getLogger().addHandler(erralert.LoggingHandler())

    Records with ``exc_info`` are reported as that exception (once, even when a
    middleware reports the same exception object); others as messages grouped by the
    record's unformatted ``msg``.
    """

    def __init__(self, alerter: Alerter | None = None, level: int = logging.ERROR) -> None:
        Reporter.__init__(self, alerter)
        logging.Handler.__init__(self, level)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".", 1)[0] in _IGNORED_LOGGERS:
            return
        alerter = resolve(self._alerter)
        if alerter is None:
            return
        try:
            level = record.levelname.lower()
            text = record.getMessage()
            extra: dict[str, Any] = {"logger": record.name, "log_message": text}
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None:
                alerter.capture_exception(
                    exc, level=level, logger_name=record.name, message=text, extra=extra
                )
            else:
                alerter.capture_message(
                    text,
                    level,
                    logger_name=record.name,
                    template=str(record.msg),
                    culprit=f"{record.module}.{record.funcName} "
                    f"({record.pathname}:{record.lineno})",
                    extra=extra,
                )
        except Exception:
            self.handleError(record)
