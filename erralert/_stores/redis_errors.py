"""Which Redis errors the Redis store waits out, and which it cannot.

Redis refuses commands for a while in many ordinary situations besides a dropped
connection: a primary demoted to a replica by a failover answers ``READONLY``, a server
loading its data set ``LOADING``, a replica cut off from its primary ``MASTERDOWN``, a
server at ``maxmemory`` ``OOM``, a server stuck in a long script ``BUSY``, one that cannot
persist ``MISCONF``, a primary short of replicas ``NOREPLICAS``, an ACL being changed
``NOPERM``, and a cluster being resharded or repaired ``MOVED``, ``ASK``, ``TRYAGAIN`` or
``CLUSTERDOWN``. Each of these is an outage like an unreachable server: the store counts in
the process until Redis answers again (``erralert._stores.redis_outage``) — the alert is
kept and sent, never dropped with a log line.

redis-py raises a class of its own for most codes (``ReadOnlyError``, ``OutOfMemoryError``
…) and a plain ``ResponseError`` carrying the code in its text for the others (``BUSY``;
an older redis-py for ``MASTERDOWN`` too). An error a Lua script met keeps its code in
Redis 7 (``READONLY … script: <sha>, on @user_script:12.``); Redis 6 wraps it
(``ERR Error running script …: -READONLY …``); a pipeline prefixes it
(``Command # 1 (EVALSHA …) of pipeline caused error: …``). All three are read here.

``NOSCRIPT`` is no outage: the server lost its script cache (a restart, a failover to a
replica that never ran the script, ``SCRIPT FLUSH``) and the script did not run; the
store loads it and runs it again."""

from __future__ import annotations

import re

try:
    from redis import exceptions as _redis_errors
except ImportError:  # pragma: no cover - exercised only without the extra installed
    _redis_errors = None  # type: ignore[assignment]

__all__ = ["REDIS_ERRORS", "TRANSIENT_CODES", "error_code", "is_noscript", "outage_cause"]

# the error replies of a Redis that will answer again by itself (see the docstring)
TRANSIENT_CODES = frozenset(
    {
        "ASK",
        "BUSY",
        "CLUSTERDOWN",
        "LOADING",
        "MASTERDOWN",
        "MISCONF",
        "MOVED",
        "NOPERM",
        "NOREPLICAS",
        "OOM",
        "READONLY",
        "TRYAGAIN",
    }
)

# Where a code stands in an error's text: first (redis-py leaves unknown codes in), after
# a pipeline's prefix, or after the "-" Redis 6 puts before a script's inner error.
_CODE_IN_TEXT = re.compile(r"(?:^|caused error: |: -)([A-Z]{2,20})\b")

if _redis_errors is not None:
    # Everything the client raises for a command: RedisError, and the cluster client's
    # own errors (no node reachable, a slot no node serves), which do not derive from it.
    REDIS_ERRORS: tuple[type[Exception], ...] = (
        _redis_errors.RedisError,
        _redis_errors.RedisClusterException,
    )
    # the classes redis-py raises for a code, most specific first (MasterDownError is a
    # ClusterDownError, MovedError an AskError)
    _CODE_OF_CLASS: tuple[tuple[type[Exception], str], ...] = (
        (_redis_errors.NoScriptError, "NOSCRIPT"),
        (_redis_errors.ReadOnlyError, "READONLY"),
        (_redis_errors.BusyLoadingError, "LOADING"),
        (_redis_errors.OutOfMemoryError, "OOM"),
        (_redis_errors.NoPermissionError, "NOPERM"),
        (_redis_errors.TryAgainError, "TRYAGAIN"),
        (_redis_errors.MasterDownError, "MASTERDOWN"),
        (_redis_errors.ClusterDownError, "CLUSTERDOWN"),
        (_redis_errors.MovedError, "MOVED"),
        (_redis_errors.AskError, "ASK"),
    )
    # the client's own words for "no server answered": a connection refused, reset or
    # timed out, a pool out of connections, a cluster none of whose nodes answers, a slot
    # no node serves during a failover, a command redirected until its budget ran out
    _UNREACHABLE: tuple[type[Exception], ...] = (
        _redis_errors.ConnectionError,
        _redis_errors.TimeoutError,
        _redis_errors.SlotNotCoveredError,
        _redis_errors.ClusterError,
        *(
            (_redis_errors.RedisClusterUnreachableError,)
            if hasattr(_redis_errors, "RedisClusterUnreachableError")  # redis-py >= 7
            else ()
        ),
    )
else:  # pragma: no cover - exercised only without the extra installed
    REDIS_ERRORS = ()
    _CODE_OF_CLASS = ()
    _UNREACHABLE = ()


def error_code(exc: BaseException) -> str | None:
    """The Redis error code of ``exc`` (``"READONLY"``, ``"BUSY"`` …), None when it carries
    none (a connection error, a client-side error)."""
    for cls, code in _CODE_OF_CLASS:
        if isinstance(exc, cls):
            return code
    status = getattr(exc, "status_code", None)  # redis-py >= 7 keeps it
    if isinstance(status, str) and status and status != "ERR":
        return status
    for found in _CODE_IN_TEXT.finditer(str(exc)):
        if found.group(1) != "ERR":  # the generic code: what it wraps may come later
            return found.group(1)
    return None


def outage_cause(exc: BaseException) -> str | None:
    """What makes ``exc`` an outage, to be logged (``"ConnectionError"``, ``"READONLY"`` …);
    None when it is not one: a script bug, a key of the wrong type, a missing script
    (``is_noscript``) — errors that waiting does not cure."""
    code = error_code(exc)
    if code in TRANSIENT_CODES:
        return code
    if isinstance(exc, _UNREACHABLE):
        return type(exc).__name__
    return None


def is_noscript(exc: BaseException) -> bool:
    """Whether ``exc`` says the server does not have the script (it did not run)."""
    return error_code(exc) == "NOSCRIPT"
