"""Which Redis errors are an outage (the store counts in the process until Redis answers
again), which mean "load the script again", and which are raised: each error in the forms
redis-py raises it — its own class, a plain ResponseError with the code in its text, inside
a pipeline, inside a Lua script (Redis 7 keeps the code, Redis 6 wraps it). The same errors
from real servers are in test_redis_refusals.py."""

from __future__ import annotations

import inspect

import pytest
from redis import exceptions as e

from erralert._stores.redis_errors import REDIS_ERRORS, error_code, is_noscript, outage_cause

READONLY = "You can't write against a read only replica."
SCRIPT_SUFFIX = " script: 3f1c0ad1e7b8d5e6ad1d9e2b3c4d5e6f7a8b9c0d, on @user_script:12."
REDIS_6_SCRIPT = "Error running script (call to f_3f1c): @user_script:12: "
PIPELINE = "Command # 1 (EVALSHA 3f1c 6 {erralert:shop}:w:k) of pipeline caused error: "


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        # redis-py's own classes (the code is cut from the text)
        (e.ReadOnlyError(READONLY), "READONLY"),
        (e.ReadOnlyError(READONLY + SCRIPT_SUFFIX), "READONLY"),
        (e.ReadOnlyError(PIPELINE + READONLY + SCRIPT_SUFFIX), "READONLY"),
        (e.BusyLoadingError("Redis is loading the dataset in memory"), "LOADING"),
        (e.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), "OOM"),
        (e.NoPermissionError("this user has no permissions to run the 'evalsha'"), "NOPERM"),
        (e.TryAgainError("Multiple keys request during rehashing of slot"), "TRYAGAIN"),
        (e.ClusterDownError("The cluster is down"), "CLUSTERDOWN"),
        (e.MasterDownError("Link with MASTER is down and replica-serve-stale-data…"), "MASTERDOWN"),
        (e.MovedError("3999 127.0.0.1:6381"), "MOVED"),
        (e.AskError("3999 127.0.0.1:6381"), "ASK"),
        # codes redis-py has no class for: a ResponseError with the code first
        (e.ResponseError("BUSY Redis is busy running a script. You can only call…"), "BUSY"),
        (e.ResponseError("MASTERDOWN Link with MASTER is down"), "MASTERDOWN"),
        (e.ResponseError("MISCONF Redis is configured to save RDB snapshots, but…"), "MISCONF"),
        (e.ResponseError("NOREPLICAS Not enough good replicas to write."), "NOREPLICAS"),
        (e.ResponseError(PIPELINE + "BUSY Redis is busy running a script."), "BUSY"),
        # Redis 6 wraps a script's inner error in ERR
        (e.ResponseError(REDIS_6_SCRIPT + "@user_script: 12: -READONLY " + READONLY), "READONLY"),
        (e.ResponseError("ERR " + REDIS_6_SCRIPT + "-OOM command not allowed"), "OOM"),
        # nothing answered
        (e.ConnectionError("Error 111 connecting to 127.0.0.1:6379."), "ConnectionError"),
        (e.TimeoutError("Timeout reading from socket"), "TimeoutError"),
        (e.AuthenticationError("invalid username-password pair"), "AuthenticationError"),
        (e.MaxConnectionsError("Too many connections"), "MaxConnectionsError"),
        (e.SlotNotCoveredError("Command # 1 (EVALSHA) could not be routed"), "SlotNotCoveredError"),
        (e.ClusterError("TTL exhausted."), "ClusterError"),
    ],
)  # fmt: skip
def test_transient_errors_are_an_outage(error: Exception, cause: str) -> None:
    assert isinstance(error, REDIS_ERRORS)
    assert outage_cause(error) == cause
    assert not is_noscript(error)


@pytest.mark.parametrize(
    "error",
    [
        e.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        e.ResponseError(REDIS_6_SCRIPT + "attempt to compare nil with number"),
        e.ResponseError("user_script:3: attempt to compare nil with number" + SCRIPT_SUFFIX),
        e.ResponseError("ERR unknown command 'EVALSHA'"),
        e.ResponseError("Unknown Redis command called from script"),
        e.DataError("Invalid input of type: 'NoneType'."),
        e.ClusterCrossSlotError("Keys in request don't hash to the same slot"),
        e.NoScriptError("No matching script. Please use EVAL."),
    ],
)  # fmt: skip
def test_errors_that_waiting_does_not_cure_are_not_an_outage(error: Exception) -> None:
    assert isinstance(error, REDIS_ERRORS)
    assert outage_cause(error) is None


def test_a_missing_script_is_loaded_again_not_waited_for() -> None:
    assert is_noscript(e.NoScriptError("No matching script. Please use EVAL."))
    assert is_noscript(e.ResponseError(PIPELINE + "NOSCRIPT No matching script."))
    assert error_code(e.NoScriptError("No matching script.")) == "NOSCRIPT"
    assert not is_noscript(e.ReadOnlyError(READONLY))


@pytest.mark.skipif(
    "status_code" not in inspect.signature(e.ResponseError.__init__).parameters,
    reason="redis-py < 7 keeps no status_code",
)
def test_the_code_as_redis_py_7_keeps_it() -> None:
    # redis-py >= 7 keeps the code it cut from the text in status_code
    error = e.ResponseError("Redis is busy running a script.", status_code="BUSY")
    assert outage_cause(error) == "BUSY"
    assert error_code(e.ResponseError("some text", status_code="ERR")) is None
