"""``LoggingHandler``: ``logger.exception(...)`` and ``logger.error(...)`` to chat; and the
filter that keeps secrets out of erralert's own log records.

Importing erralert installs ``RedactingFilter`` on two loggers: ``erralert`` (whatever the
record quotes — an exception raised by a ``before_send`` hook, a platform's answer — is
scrubbed like an event, and webhook credentials are masked) and ``httpx``, which logs the
full URL of every request at INFO, webhook tokens included.
"""

from __future__ import annotations

import logging
from typing import Any

from erralert._alerter.alerter import Alerter
from erralert._capture.scrub import Scrubber
from erralert._default import Reporter, resolve
from erralert.channels.masking import redact_known_secrets

__all__ = ["LoggingHandler", "RedactingFilter"]

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


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) without the credentials of any
    channel of this process and, with ``scrub``, without what erralert's scrubber filters
    from events (``password=…``, bearer tokens, URL passwords, JWTs). Never drops a record."""

    def __init__(self, *, scrub: bool) -> None:
        super().__init__()
        self._scrubber = Scrubber() if scrub else None

    def _clean(self, text: str) -> str:
        text = redact_known_secrets(text)
        return self._scrubber.text(text) if self._scrubber is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            cleaned = self._clean(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and not record.exc_text:
                # formatted here, as a handler's formatter would, so that every handler
                # shows the cleaned text (formatters use exc_text when it is set)
                text = logging.Formatter().formatException(record.exc_info)
                cleaned = self._clean(text)
                if cleaned != text:
                    record.exc_text = cleaned
            if record.stack_info:
                record.stack_info = self._clean(record.stack_info)
        except Exception:  # a record whose message cannot be formatted: leave it be
            pass
        return True


def _install() -> None:
    for name, scrub in (("erralert", True), ("httpx", False)):
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter(scrub=scrub))


_install()
