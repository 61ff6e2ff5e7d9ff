"""Flask: unhandled exceptions of the views, and errors raised while a response streams.

    import erralert.integrations.flask

    erralert.integrations.flask.init_app(app)

Flask outside debug mode turns an unhandled exception into a 500 response itself, so an
outer WSGI middleware never sees it: ``init_app`` listens to Flask's
``got_request_exception`` signal instead, where the request context (route rule, endpoint,
Flask-Login user) is still there. Errors raised while a generator response is being
streamed happen after Flask is done and fire no signal; ``init_app`` therefore also wraps
``app.wsgi_app`` in :class:`erralert.WSGIMiddleware`, which matches the URL rule again
from the environ and reads the Flask-Login user from the request's session cookie. It
does so only when such an error happens, so that the happy path pays for no per-request
hook (an ``after_request`` function alone costs about 3 µs of a ~100 µs request).
The same exception is alerted once however many of these hooks (or the user's own
middleware) report it. The wrapper holds the app weakly, so that a discarded app is freed
at once as Flask promises: a server needs the app itself (or a reference kept to it), not
only its ``wsgi_app``.

Configuration: ``init_app(app, alerter=...)`` uses that alerter; Alerter options given to
``init_app(app, **options)`` or as the dict ``app.config["ERRALERT"]`` build one alerter
for the app (options over the dict over the ``ERRALERT_*`` environment); with neither, the
app uses the default alerter (``erralert.init()``, else built from the environment).
``app.extensions["erralert"].alerter`` is the alerter in use.

Handled errors stay quiet: ``abort(404)`` and every ``HTTPException`` below 500 are
responses, not failures, and errors that an ``@app.errorhandler`` answers never reach the
signal.
"""

from __future__ import annotations

import dataclasses
import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import MethodType
from typing import Any

try:
    from flask import Flask, got_request_exception, has_request_context, request
    from werkzeug.exceptions import HTTPException
except ImportError as exc:  # pragma: no cover - exercised in a test by hiding flask
    raise ImportError(
        "erralert.integrations.flask needs Flask: pip install 'erralert[flask]'"
    ) from exc

from erralert._alerter.alerter import Alerter
from erralert._capture.request import request_from_wsgi
from erralert._core.config import env_options
from erralert._core.errors import ConfigError
from erralert._core.event import Request
from erralert._default import Reporter, get_alerter
from erralert.integrations.wsgi import WSGIMiddleware

__all__ = ["FlaskReporter", "init_app"]

EXTENSION = "erralert"
# where Flask-Login keeps the logged-in user's id in the session
_LOGIN_SESSION_KEY = "_user_id"
_OPTIONS = frozenset(inspect.signature(Alerter).parameters)

Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


def init_app(app: Flask, alerter: Alerter | None = None, **options: Any) -> None:
    """Report the unhandled exceptions of ``app``. Calling it again for the same app does
    nothing. Configuration mistakes raise :class:`erralert.ConfigError` here."""
    if EXTENSION in app.extensions:
        return  # a second signal receiver and a second wrapper would only cost time
    reporter = FlaskReporter(_app_alerter(app, alerter, options))
    app.extensions[EXTENSION] = reporter
    # weak (the default): the bound method lives as long as app.extensions holds the
    # reporter, so a discarded app (tests, app factories) leaves no receiver behind
    got_request_exception.connect(reporter.on_exception, app)
    outer = app.wsgi_app
    if isinstance(outer, WSGIMiddleware) and not isinstance(outer, _FlaskMiddleware):
        # the app was already wrapped in the raw middleware: go beneath it, so that a
        # streaming error is reported with the Flask context first (the outer one then
        # finds the exception already captured)
        outer.app = _FlaskMiddleware(outer.app, app, reporter)
    else:
        app.wsgi_app = _FlaskMiddleware(outer, app, reporter)  # type: ignore[method-assign]


class FlaskReporter(Reporter):
    """What :func:`init_app` installs as ``app.extensions["erralert"]``."""

    def on_exception(self, sender: Flask, exception: BaseException, **_: Any) -> None:
        """The ``got_request_exception`` receiver: runs inside the request context."""
        if _handled(exception):
            return  # only reachable with TRAP_HTTP_EXCEPTIONS: still an answer, not a bug
        environ: Environ | None = request.environ if has_request_context() else None
        try:
            context = _Context.current(sender)
        except Exception:
            context = None  # a broken context reader must not hide the error
        self._capture(exception, environ, context)

    def report(self, exc: BaseException, environ: Any = None, app: Flask | None = None) -> None:
        """The wrapped ``wsgi_app``'s reports (streaming, or PROPAGATE_EXCEPTIONS)."""
        if _handled(exc):
            return
        if not isinstance(environ, dict):
            environ = None
        context = _Context.after(app, environ) if environ is not None else None
        self._capture(exc, environ, context)

    def _capture(
        self, exc: BaseException, environ: Environ | None, context: _Context | None
    ) -> None:
        alerter = self.alerter
        if alerter is None:
            return
        if environ is None or context is None:
            # without a Flask context the core reads the environ itself (lazily)
            alerter.capture_exception(exc, request=environ)
            return
        env, ctx = environ, context  # narrowed: about() runs later, for a first occurrence

        def about() -> Request:
            return dataclasses.replace(request_from_wsgi(env), route=ctx.route, user=ctx.user)

        tags = {"endpoint": context.endpoint} if context.endpoint else None
        alerter.capture_exception(exc, request=about, tags=tags)


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    """The Flask-only part of a request's context (the rest comes from the environ)."""

    route: str | None  # the URL rule, e.g. "/orders/<int:order_id>"
    endpoint: str | None
    user: str | None

    @classmethod
    def current(cls, app: Flask) -> _Context | None:
        """Inside the request context (the ``got_request_exception`` signal)."""
        if not has_request_context():
            return None
        rule = request.url_rule
        return cls(
            route=rule.rule if rule is not None else None,
            endpoint=request.endpoint,
            user=_user_id(app),
        )

    @classmethod
    def after(cls, app: Flask | None, environ: Environ) -> _Context | None:
        """After the request context is gone (a streamed body failing): the URL rule
        matched again from the environ, the user id from the request's session cookie.
        Flask clears the request object it left in the environ when the context pops, so
        nothing of the request survives but the environ; reading it again here costs only
        this (rare) error, not every request."""
        if app is None:
            return None
        try:
            # populate_request=False: leaves the environ as Flask left it
            seen = app.request_class(environ, populate_request=False)
            adapter = app.create_url_adapter(seen)
            rule, _ = adapter.match(return_rule=True) if adapter is not None else (None, None)
        except Exception:
            return None  # no rule matches any more (or the environ is odd): no context
        return cls(
            route=rule.rule if rule is not None else None,
            endpoint=rule.endpoint if rule is not None else None,
            user=_session_user_id(app, seen),
        )


class _FlaskMiddleware(WSGIMiddleware):
    """``app.wsgi_app`` wrapped: errors raised while the body streams, reported through the
    app's reporter (same alerter, route and user read back from the environ).

    It lives in the app's ``wsgi_app`` attribute, so it holds the app weakly: a strong
    reference (to the app, or to its bound ``wsgi_app``) would make a cycle that keeps a
    discarded app alive until the garbage collector runs, where Flask frees it at once."""

    def __init__(self, app: WSGIApp, flask_app: Flask, reporter: FlaskReporter) -> None:
        if isinstance(app, MethodType) and app.__self__ is flask_app:
            app = _WeakWSGIApp(app.__func__, weakref.ref(flask_app))
        super().__init__(app)
        self._flask_app = weakref.ref(flask_app)
        self._reporter = reporter

    def report(self, exc: BaseException, environ: Any = None) -> None:
        self._reporter.report(exc, environ, self._flask_app())


class _WeakWSGIApp:
    """A bound method of the app (Flask's own ``wsgi_app``) that holds the app weakly."""

    __slots__ = ("_app", "_function")

    def __init__(self, function: Callable[..., Iterable[bytes]], app: weakref.ref[Flask]) -> None:
        self._function = function
        self._app = app

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = self._app()
        if app is None:
            raise ReferenceError(
                "the Flask app of this wsgi_app was freed: erralert.integrations.flask."
                "init_app holds the app weakly, keep a reference to the Flask app itself"
            )
        return self._function(app, environ, start_response)


def _handled(exc: BaseException) -> bool:
    """An ``HTTPException`` below 500 (404, 405, 400 …) is an answer, not a failure."""
    code = exc.code if isinstance(exc, HTTPException) else None
    return code is not None and code < 500


def _user_id(app: Flask) -> str | None:
    """Flask-Login's authenticated user id, when Flask-Login is installed and set up on the
    app; None otherwise, and whenever reading it fails (the user loader may be what broke).
    Only the id: never a name or an e-mail."""
    # Flask-Login's LoginManager.init_app sets app.login_manager; without it current_user
    # raises
    if getattr(app, "login_manager", None) is None:
        return None
    try:
        import flask_login  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        user = flask_login.current_user
        if user is None or not user.is_authenticated:
            return None
        user_id = user.get_id()
        return None if user_id is None else str(user_id)
    except Exception:
        return None


def _session_user_id(app: Flask, seen: Any) -> str | None:
    """The Flask-Login user id in the session the request came with: what ``login_user``
    stored there (``user.get_id()``). Read from the cookie again, because the request's
    session is gone with its context; no user loader runs (it may be what broke)."""
    if getattr(app, "login_manager", None) is None:
        return None
    try:
        session = app.session_interface.open_session(app, seen)
        user_id = session.get(_LOGIN_SESSION_KEY) if session is not None else None
    except Exception:
        return None  # a session store that is down must not hide the error
    return None if user_id is None else str(user_id)


def _app_alerter(app: Flask, alerter: Alerter | None, options: dict[str, Any]) -> Alerter | None:
    """The app's own alerter, or None for the default one (resolved at report time, so that
    an ``erralert.init()`` after ``init_app`` still takes effect)."""
    if alerter is not None:
        if options:
            raise ConfigError("init_app: pass either alerter= or Alerter options, not both")
        return alerter
    config = app.config.get("ERRALERT")
    if config is None and not options:
        get_alerter()  # built now: a broken environment fails at start-up, not per error
        return None
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        kind = type(config).__name__
        raise ConfigError(f'app.config["ERRALERT"] must be a dict of Alerter options, got {kind}')
    merged = {**env_options(), **config, **options}
    unknown = sorted(str(key) for key in set(merged) - _OPTIONS)
    if unknown:
        raise ConfigError(f"init_app: unknown option(s): {', '.join(unknown)}")
    return Alerter(**merged)
