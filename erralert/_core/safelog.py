"""erralert's own log lines, through a logger that never raises.

erralert logs on the application's threads: a capture that failed, a configuration it
could not read, a shutdown that leaves messages undelivered. The handlers and filters on
the ``erralert`` logger (and on its ancestors, records propagate) are the application's:
logging's own handlers swallow their errors, but one written by hand may raise, and from
inside a middleware's ``except`` block that exception would replace the application's own
(a ``KeyError`` turned into an ``OSError``). So every module of erralert logs through a
:class:`SafeLogger`, and a failure to log is dropped: there is nowhere left to say it.

    logger = safe_logger()          # instead of logging.getLogger("erralert")
    logger.warning("erralert: %s", reason)
"""

from __future__ import annotations

import contextlib
import logging

__all__ = ["SafeLogger", "safe_logger"]

# the frames between the code that logs and Logger.log: the level method and _log below,
# so that a record names the line of erralert that logged, not this module
_STACKLEVEL = 3


class SafeLogger:
    """The calls of :class:`logging.Logger` that erralert uses, each of which returns
    normally whatever the handlers and filters do."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def debug(self, msg: str, *args: object, exc_info: bool = False) -> None:
        self._log(logging.DEBUG, msg, args, exc_info)

    def warning(self, msg: str, *args: object, exc_info: bool = False) -> None:
        self._log(logging.WARNING, msg, args, exc_info)

    def error(self, msg: str, *args: object, exc_info: bool = False) -> None:
        self._log(logging.ERROR, msg, args, exc_info)

    def exception(self, msg: str, *args: object) -> None:
        """ERROR with the traceback of the exception being handled."""
        self._log(logging.ERROR, msg, args, True)

    def log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        self._log(level, msg, args, exc_info)

    def _log(self, level: int, msg: str, args: tuple[object, ...], exc_info: bool) -> None:
        # a handler or filter of the application failed: dropped (see the module)
        with contextlib.suppress(Exception):
            self._logger.log(level, msg, *args, exc_info=exc_info, stacklevel=_STACKLEVEL)


def safe_logger(name: str = "erralert") -> SafeLogger:
    """The logger ``name`` (by default erralert's own), through :class:`SafeLogger`."""
    return SafeLogger(logging.getLogger(name))
