"""Flask: unhandled exceptions of the views, and errors raised while a response streams.

    import erralert.integrations.flask

    erralert.integrations.flask.init_app(app)

Flask outside debug mode turns an unhandled exception into a 500 response itself, so an
outer WSGI middleware never sees it: ``init_app`` listens to Flask's
``got_request_exception`` signal instead, where the request context (route rule, endpoint,
Flask-Login user) is still there. Errors raised while a generator response is being
streamed happen after Flask is done and fire no signal; ``init_app`` therefore also wraps
``app.wsgi_app`` in :class:`erralert.WSGIMiddleware`. The same exception is alerted once
however many of these hooks (or the user's own middleware) report it.

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

import contextlib
import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

try:
    from flask import Flask, Response, g, got_request_exception, has_request_context, request
    from werkzeug.exceptions import HTTPException
except ImportError as exc:  # pragma: no cover - exercised in a test by hiding flask
    raise ImportError(
        "erralert.integrations.flask needs Flask: pip install 'erralert[flask]'"
    ) from exc

from erralert.alerter import Alerter
from erralert.config import env_options
from erralert.default import Reporter, get_alerter
from erralert.errors import ConfigError
from erralert.event import Request
from erralert.request import request_from_wsgi
from erralert.wsgi import WSGIMiddleware

__all__ = ["FlaskReporter", "init_app"]

EXTENSION = "erralert"
# what a streamed response's error needs from its request, remembered in the environ
# because the request context is gone by the time the body is iterated
_ENVIRON_KEY = "erralert.flask"
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
    app.after_request(reporter.remember_stream)
    outer = app.wsgi_app
    if isinstance(outer, WSGIMiddleware) and not isinstance(outer, _FlaskMiddleware):
        # the app was already wrapped in the raw middleware: go beneath it, so that a
        # streaming error is reported with the Flask context first (the outer one then
        # finds the exception already captured)
        outer.app = _FlaskMiddleware(outer.app, reporter)
    else:
        app.wsgi_app = _FlaskMiddleware(outer, reporter)  # type: ignore[method-assign]


class FlaskReporter(Reporter):
    """What :func:`init_app` installs as ``app.extensions["erralert"]``."""

    def on_exception(self, sender: Flask, exception: BaseException, **_: Any) -> None:
        """The ``got_request_exception`` receiver: runs inside the request context."""
        if _handled(exception):
            return  # only reachable with TRAP_HTTP_EXCEPTIONS: still an answer, not a bug
        environ: Environ | None = request.environ if has_request_context() else None
        try:
            context = _Context.current(sender, load_user=True)
        except Exception:
            context = None  # a broken context reader must not hide the error
        self._capture(exception, environ, context)

    def remember_stream(self, response: Response) -> Response:
        """``after_request``: a streamed body fails after the request context is gone."""
        if response.is_streamed:
            # no user loading here: static files stream too, and a user_loader query per
            # file would cost more than the user id is worth
            with contextlib.suppress(Exception):
                request.environ[_ENVIRON_KEY] = _Context.current(None, load_user=False)
        return response

    def report(self, exc: BaseException, environ: Any = None) -> None:
        """The wrapped ``wsgi_app``'s reports (streaming, or PROPAGATE_EXCEPTIONS)."""
        if _handled(exc):
            return
        if not isinstance(environ, dict):
            environ = None
        context = environ.get(_ENVIRON_KEY) if environ is not None else None
        self._capture(exc, environ, context if isinstance(context, _Context) else None)

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
    def current(cls, app: Flask | None, *, load_user: bool) -> _Context | None:
        if not has_request_context():
            return None
        rule = request.url_rule
        return cls(
            route=rule.rule if rule is not None else None,
            endpoint=request.endpoint,
            user=_user_id(app, load=load_user),
        )


class _FlaskMiddleware(WSGIMiddleware):
    """``app.wsgi_app`` wrapped: errors raised while the body streams, reported through the
    app's reporter (same alerter, Flask context remembered by ``remember_stream``)."""

    def __init__(self, app: WSGIApp, reporter: FlaskReporter) -> None:
        super().__init__(app)
        self._reporter = reporter

    def report(self, exc: BaseException, environ: Any = None) -> None:
        self._reporter.report(exc, environ)


def _handled(exc: BaseException) -> bool:
    """An ``HTTPException`` below 500 (404, 405, 400 …) is an answer, not a failure."""
    code = exc.code if isinstance(exc, HTTPException) else None
    return code is not None and code < 500


def _user_id(app: Flask | None, *, load: bool) -> str | None:
    """Flask-Login's authenticated user id, when Flask-Login is installed and set up on the
    app; None otherwise, and whenever reading it fails (the user loader may be what broke).
    Only the id: never a name or an e-mail."""
    try:
        if load:
            # Flask-Login's LoginManager.init_app sets app.login_manager; without it
            # current_user raises
            if app is None or getattr(app, "login_manager", None) is None:
                return None
            try:
                import flask_login  # type: ignore[import-untyped]
            except ImportError:
                return None
            user = flask_login.current_user
        else:
            # only a user Flask-Login already loaded for this request (it keeps it in g)
            user = g.get("_login_user")
        if user is None or not user.is_authenticated:
            return None
        user_id = user.get_id()
        return None if user_id is None else str(user_id)
    except Exception:
        return None


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
