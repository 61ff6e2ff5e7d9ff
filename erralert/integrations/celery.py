"""Celery: failed tasks to chat, one line next to the app.

    import erralert.integrations.celery
    erralert.integrations.celery.init_celery(app)

``init_celery`` connects to Celery's signals in every process that imports the app — the
worker's main process and each prefork child (the signals are process-global, so the line
runs wherever the app module is imported, including the processes that only send tasks,
where it does nothing):

* ``task_failure`` (sent where the task ran, i.e. in the pool child) → the exception, grouped
  like any other error, tagged ``celery_task`` (the task's name) and ``celery_queue``, with
  the task's id, retries, worker and scrubbed, size-capped ``args``/``kwargs`` as ``extra``
  (no request: ``event.request`` is None). Positional arguments are filtered by their
  parameter's name (``password``, ``token`` …); a caller's ``argsrepr``/``kwargsrepr``
  (Celery's way to keep arguments out of logs) is shown instead of the values.
  Not alerted: ``Retry``, ``Ignore``, ``Reject`` (control flow, not errors) and the
  exceptions listed in the task's ``throws`` (Celery's "expected" errors, which Celery itself
  logs at INFO level without a traceback). A task that gives up after its retries
  (``MaxRetriesExceededError``, or ``autoretry_for`` re-raising) is alerted.
* ``worker_process_shutdown`` (a prefork child exiting) → the alerters are closed: billiard
  ends its children with ``os._exit()``, so erralert's atexit hook never runs there; closing
  delivers what is queued and sends pending repeat counts as a digest, bounded by the
  alerter's ``shutdown_timeout``.
* ``worker_shutdown`` (the main process) → flush, bounded; the atexit hook closes afterwards.

The delivery thread starts lazily in the child that captures the first error (the core
resets its state after ``fork``). Each child has its own in-memory throttle, so with
``--concurrency=N`` an error that several children hit alerts once in each of them per
window (their digests still add up to every occurrence); one alert per host needs a store
shared by the processes.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    from billiard.einfo import (  # type: ignore[import-untyped]
        ExceptionWithTraceback,
    )
    from celery import signals  # type: ignore[import-untyped]
    from celery.exceptions import Ignore, Reject, Retry  # type: ignore[import-untyped]
    from celery.utils.saferepr import saferepr  # type: ignore[import-untyped]
    from celery.utils.serialization import (  # type: ignore[import-untyped]
        UnpickleableExceptionWrapper,
    )
except ImportError as exc:
    raise ImportError(
        "erralert.integrations.celery needs Celery: pip install 'erralert[celery]'"
    ) from exc

import erralert._default
from erralert._alerter.alerter import Alerter
from erralert._capture.safe_text import safe_repr
from erralert._capture.scrub import FILTERED, Scrubber
from erralert._default import Reporter

__all__ = ["CeleryIntegration", "init_celery", "task_context"]

MAX_ARGS = 20  # positional arguments and keyword arguments shown, each
MAX_ARG_LENGTH = 500  # characters of one argument's value (its repr, unless a plain string)
_DEFAULT_FLUSH_TIMEOUT = 2.0  # the default alerter's flush at worker shutdown

_NOT_ERRORS = (Retry, Ignore, Reject)
_scrubber = Scrubber()
_lock = threading.Lock()
# one integration per app (None: every app's tasks); a later init_celery for the same app
# replaces the earlier one
_integrations: dict[Any, CeleryIntegration] = {}
_positional_names: dict[Callable[..., Any], tuple[tuple[str, ...], str | None]] = {}


class CeleryIntegration(Reporter):
    """Reports the failures of ``app``'s tasks (every app's when ``app`` is None) to
    ``alerter``, one built from ``**options``, or the default alerter. Built and connected
    by :func:`init_celery`."""

    def __init__(self, app: Any = None, alerter: Alerter | None = None, **options: Any) -> None:
        super().__init__(alerter, **options)
        self.app = app

    def uninstall(self) -> None:
        """Stop reporting (the signal receivers stay connected and do nothing for it)."""
        with _lock:
            if _integrations.get(self.app) is self:
                del _integrations[self.app]

    def report_failure(
        self,
        task: Any,
        task_id: str | None,
        exc: BaseException,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Alert ``exc`` raised by ``task`` unless it is control flow or expected. Returns
        the event id (None when not alerted)."""
        exc = _original_exception(exc)
        if isinstance(exc, _NOT_ERRORS) or _expected(task, exc):
            return None
        alerter = self.alerter
        if alerter is None:
            return None
        try:
            tags, extra = task_context(task, task_id, args, kwargs)
        except Exception:  # a task object whose attributes raise: the error still goes out
            tags, extra = {}, {"task_id": task_id}
        return alerter.capture_exception(exc, tags=tags, extra=extra)


def init_celery(
    app: Any = None, alerter: Alerter | None = None, **options: Any
) -> CeleryIntegration:
    """Alert on the failed tasks of ``app`` (of every app when None), in every worker
    process, and flush at worker shutdown. ``alerter``/``**options`` as for the middlewares:
    an explicit alerter, one built from the options, or the default one (``erralert.init``
    or the ``ERRALERT_*`` environment), resolved when a task fails."""
    integration = CeleryIntegration(app, alerter, **options)
    with _lock:
        _integrations[app] = integration
    return integration


# -- context -----------------------------------------------------------------------------------
def task_context(
    task: Any,
    task_id: str | None,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(tags, extra)`` describing one run of ``task``: its name as a tag (a few distinct
    values, good for filtering), the per-run details as extra."""
    name = str(getattr(task, "name", None) or type(task).__name__)
    request = getattr(task, "request", None)
    # the task's request context is the failed run's only while it is on the stack (in the
    # child; the main process pushes it for the failures it reports, e.g. a lost worker)
    if request is None or getattr(request, "id", None) != task_id:
        request = None
    tags: dict[str, Any] = {"celery_task": name}
    extra: dict[str, Any] = {"task_id": task_id}
    if request is not None:
        extra["retries"] = getattr(request, "retries", 0)
        if hostname := getattr(request, "hostname", None):
            extra["worker"] = hostname
        delivery = getattr(request, "delivery_info", None)
        if isinstance(delivery, Mapping) and (queue := delivery.get("routing_key")):
            tags["celery_queue"] = queue
    positional = list(args or ())
    named = dict(kwargs or {})
    user_args = _user_repr(task, request, "argsrepr", positional)
    user_kwargs = _user_repr(task, request, "kwargsrepr", named)
    extra["args"] = user_args if user_args is not None else _scrub_args(task, positional)
    extra["kwargs"] = user_kwargs if user_kwargs is not None else _scrub_kwargs(named)
    return tags, extra


def _scrub_args(task: Any, args: list[Any]) -> list[Any]:
    """The positional arguments, capped, with those whose parameter name is sensitive
    (``password``, ``token`` …) filtered: a positional secret has no key of its own."""
    names, var_name = _parameter_names(task)
    result: list[Any] = []
    for i, value in enumerate(args[:MAX_ARGS]):
        name = names[i] if i < len(names) else var_name
        if name is not None and _scrubber.is_sensitive(name):
            result.append(FILTERED)
        else:
            result.append(_scrubber.text(v) if isinstance(v := _capped(value), str) else v)
    if len(args) > MAX_ARGS:
        result.append(f"... {len(args) - MAX_ARGS} more")
    return result


def _scrub_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    capped = {str(k): _capped(v) for k, v in list(kwargs.items())[:MAX_ARGS]}
    if len(kwargs) > MAX_ARGS:
        capped["..."] = f"{len(kwargs) - MAX_ARGS} more"
    return _scrubber.mapping(capped)


def _capped(value: Any) -> Any:
    """Scalars as they are, strings cut, anything else as a bounded repr: the arguments of
    a task can be megabytes, and the scrubber then reads only what is shown."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_ARG_LENGTH else value[:MAX_ARG_LENGTH] + "..."
    return safe_repr(value, MAX_ARG_LENGTH)


def _parameter_names(task: Any) -> tuple[tuple[str, ...], str | None]:
    """The names of ``task.run``'s positional parameters, and of its ``*args`` if any."""
    run = getattr(task, "run", None)
    if run is None:
        return (), None
    key = getattr(run, "__func__", run)  # bound tasks: one entry per function
    try:
        return _positional_names[key]
    except (KeyError, TypeError):
        pass
    try:
        parameters = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        names: tuple[tuple[str, ...], str | None] = ((), None)
    else:
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        var = [p.name for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL]
        names = (
            tuple(p.name for p in parameters if p.kind in positional),
            var[0] if var else None,
        )
    if len(_positional_names) < 1000:
        with contextlib.suppress(TypeError):  # an unhashable callable
            _positional_names[key] = names
    return names


def _user_repr(task: Any, request: Any, attr: str, values: list[Any] | dict[str, Any]) -> Any:
    """The ``argsrepr``/``kwargsrepr`` the caller passed to ``apply_async`` — Celery's way to
    keep secret arguments out of logs and monitoring, so erralert honours it — or None when
    it is just Celery's default repr of the values."""
    given = getattr(request, attr, None) if request is not None else None
    if not isinstance(given, str):
        return None
    try:
        app = task.app
        maxsize = getattr(app.amqp, f"{attr}_maxsize", 1024)
        levels = getattr(app.conf, "task_repr_maxlevels", 3)
        # the sender's tuple arrives as a list (JSON): either form is Celery's default
        forms = [values, tuple(values)] if isinstance(values, list) else [values]
        if any(given == saferepr(form, maxsize, maxlevels=levels) for form in forms):
            return None
    except Exception:  # cannot tell: the caller's repr is the safe side
        pass
    return _scrubber.text(given[: MAX_ARG_LENGTH * 4])


def _original_exception(exc: BaseException) -> BaseException:
    """The exception the task raised, not Celery's transport wrappers around it."""
    if isinstance(exc, ExceptionWithTraceback):  # a child's failure reported by the parent
        exc = exc.exc
    if isinstance(exc, UnpickleableExceptionWrapper):
        # Celery swaps an unpicklable exception for a wrapper before sending the signal;
        # the signal is sent while the original is being handled
        current = sys.exc_info()[1]
        if current is not None and type(current).__name__ == exc.exc_cls_name:
            return current
    return exc


def _expected(task: Any, exc: BaseException) -> bool:
    throws = getattr(task, "throws", None)
    if not throws:
        return False
    try:
        return isinstance(exc, throws)
    except TypeError:  # not a class or a tuple of classes
        return False


# -- signal receivers --------------------------------------------------------------------------
def _targets(task: Any) -> list[CeleryIntegration]:
    app = getattr(task, "app", None)
    everyone = _integrations.get(None)
    own = _integrations.get(app) if app is not None else None
    return [i for i in (own, everyone) if i is not None]


def _on_task_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    **_: Any,
) -> None:
    if not isinstance(exception, BaseException):
        return
    for integration in _targets(sender):
        integration.report_failure(sender, task_id, exception, args, kwargs)


def _explicit_alerters() -> list[Alerter]:
    alerters = (i.own_alerter for i in list(_integrations.values()))
    return list({id(a): a for a in alerters if a is not None}.values())


def _on_worker_process_shutdown(**_: Any) -> None:
    # a prefork child about to os._exit(): do what the atexit hook would have done
    if not _integrations:
        return
    for alerter in _explicit_alerters():
        alerter.close()
    erralert._default.close()  # the default alerter, if this process built or inherited one


def _on_worker_shutdown(**_: Any) -> None:
    # the main process: deliver now (bounded); the atexit hook then closes the alerters
    if not _integrations:
        return
    for alerter in _explicit_alerters():
        alerter.flush(alerter.shutdown_timeout)
    erralert._default.flush(_DEFAULT_FLUSH_TIMEOUT)


# connected once, at import (dispatch_uid: never twice); they do nothing until init_celery
# registers an integration
signals.task_failure.connect(_on_task_failure, weak=False, dispatch_uid="erralert.task_failure")
signals.worker_process_shutdown.connect(
    _on_worker_process_shutdown, weak=False, dispatch_uid="erralert.worker_process_shutdown"
)
signals.worker_shutdown.connect(
    _on_worker_shutdown, weak=False, dispatch_uid="erralert.worker_shutdown"
)
