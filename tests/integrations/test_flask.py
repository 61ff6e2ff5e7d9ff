"""The Flask integration: in-process (Flask's test client, ``capture_alerts``) for the
details, and the reference app under gunicorn with a real receiver end to end."""

from __future__ import annotations

import gc
import importlib
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, Response, abort, got_request_exception, request, stream_with_context
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from werkzeug.exceptions import NotFound

import erralert
import erralert.integrations.flask as ea_flask
from erralert._core.event import Event
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Receiver
from tests.servers import gunicorn

ROOT = Path(__file__).resolve().parent.parent.parent
HOOK = "webhook+http://127.0.0.1:9/hook"  # never called: capture_alerts records instead


# -- helpers --------------------------------------------------------------------------------------
def checkout_failed(order_id: int) -> None:
    raise ValueError(f"payment declined for order {order_id}")


def make_app(app_class: type[Flask] = Flask) -> Flask:
    """A Flask app without erralert: each test adds it its own way."""
    app = app_class(__name__)
    app.secret_key = "test-secret"

    @app.post("/orders/<int:order_id>/pay")
    def pay(order_id: int) -> str:
        checkout_failed(order_id)
        return "unreachable"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/abort/<int:code>")
    def aborts(code: int) -> str:
        abort(code)

    @app.get("/not-found")
    def not_found() -> str:
        raise NotFound()

    @app.post("/only-post")
    def only_post() -> str:
        return "ok"

    @app.get("/stream/plain")
    def stream_plain() -> Response:
        def body() -> Iterator[str]:
            yield "first chunk\n"
            raise RuntimeError("stream broke midway")

        return Response(body())

    @app.get("/stream/context")
    def stream_context() -> Response:
        def body() -> Iterator[str]:
            yield f"rows for {request.path}\n"  # needs the request context while streaming
            raise LookupError("stream lost its source")

        return Response(stream_with_context(body()))

    @app.get("/ok")
    def ok() -> str:
        return "fine"

    return app


def flask_app(alerter: erralert.Alerter | None = None, **options: Any) -> Flask:
    app = make_app()
    ea_flask.init_app(app, alerter, **options)
    return app


@pytest.fixture
def alerter() -> Iterator[erralert.Alerter]:
    alerter = erralert.Alerter([HOOK], window=300)
    yield alerter
    alerter.close(0.1)


@pytest.fixture
def alerts() -> Iterator[list[CapturedAlert]]:
    with capture_alerts() as captured:
        yield captured


def kinds_at_close(alerts: list[CapturedAlert], *alerters: erralert.Alerter) -> list[str]:
    """Every message kind once the windows close: a second capture of the same exception
    would show as a digest of one repeat."""
    for alerter in alerters:
        alerter.close(0.1)
    erralert.close(0.1)
    return [a.kind for a in alerts]


def only_event(alerts: list[CapturedAlert]) -> Event:
    assert [a.kind for a in alerts] == ["alert"]
    return alerts[0].notice.event


class User(UserMixin):  # type: ignore[misc]
    def __init__(self, user_id: str) -> None:
        self.id = user_id
        self.email = "ada@example.com"  # personal data that must not reach chat


def with_login(app: Flask, loader: Any = None) -> LoginManager:
    manager = LoginManager(app)
    manager.user_loader(loader or User)

    @app.get("/login/<user_id>")
    def login(user_id: str) -> str:
        login_user(User(user_id))
        return "in"

    @app.get("/me/boom")
    @login_required  # type: ignore[misc]
    def my_boom() -> str:
        raise RuntimeError(f"failed for {current_user.get_id()}")

    @app.get("/me/stream")
    @login_required  # type: ignore[misc]
    def my_stream() -> Response:
        def body() -> Iterator[str]:
            yield "mine\n"
            raise RuntimeError("my stream broke")

        return Response(body())

    return manager


# -- the failing view -----------------------------------------------------------------------------
def test_failing_view_alerts_once_with_flask_context(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)
    response = app.test_client().post(
        "/orders/42/pay?ref=mail",
        headers={
            "X-Forwarded-For": "203.0.113.7, 10.0.0.1",
            "X-Request-Id": "req-1",
            "User-Agent": "pytest-agent",
            "Authorization": "Bearer secret-token-123",
        },
    )
    assert response.status_code == 500
    assert b"Internal Server Error" in response.data  # Flask's own 500, unchanged
    event = only_event(alerts)
    assert event.title == "ValueError: payment declined for order 42"
    assert "checkout_failed" in event.culprit
    req = event.request
    assert req is not None
    assert req.method == "POST"
    assert req.path == "/orders/42/pay"
    assert req.route == "/orders/<int:order_id>/pay"
    assert req.query == {"ref": "mail"}
    assert req.client_ip == "203.0.113.7"
    assert req.request_id == "req-1"
    assert req.user_agent == "pytest-agent"
    assert req.headers["x-request-id"] == "req-1"
    assert req.user is None
    assert event.tags == {"endpoint": "pay"}
    assert "secret-token-123" not in str(alerts[0].payload)
    assert kinds_at_close(alerts, alerter) == ["alert"]


def test_repeats_group_and_each_exception_is_captured_once(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)
    client = app.test_client()
    for order_id in range(5):
        assert client.post(f"/orders/{order_id}/pay").status_code == 500
    assert kinds_at_close(alerts, alerter) == ["alert", "digest"]
    assert alerts[1].notice.occurrences.count == 4  # 5 requests, 5 captures, no more


def test_client_ip_without_proxy_headers(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)
    app.test_client().get("/boom", environ_base={"REMOTE_ADDR": "198.51.100.9"})
    event = only_event(alerts)
    assert event.request is not None
    assert event.request.client_ip == "198.51.100.9"


def test_propagating_app_alerts_once(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    # TESTING (or DEBUG) re-raises after the signal: the wsgi_app wrapper sees it too
    app = flask_app(alerter)
    app.testing = True
    with pytest.raises(RuntimeError, match="boom"):
        app.test_client().get("/boom")
    event = only_event(alerts)
    assert event.request is not None
    assert event.request.route == "/boom"
    assert kinds_at_close(alerts, alerter) == ["alert"]


def test_custom_500_page_still_alerts(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)

    @app.errorhandler(500)
    def sorry(error: Exception) -> tuple[str, int]:
        return "sorry", 500

    response = app.test_client().get("/boom")
    assert (response.status_code, response.text) == (500, "sorry")
    assert only_event(alerts).title == "RuntimeError: boom"


def test_error_answered_by_an_errorhandler_is_quiet(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)

    @app.errorhandler(ValueError)
    def declined(error: ValueError) -> tuple[str, int]:
        return "declined", 402

    assert app.test_client().post("/orders/1/pay").status_code == 402
    assert kinds_at_close(alerts, alerter) == []


def test_broken_flask_context_still_alerts(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    class BrokenLoginFlask(Flask):
        """Asking the app for its Flask-Login manager raises (what erralert reads the user
        through): reading the request's Flask context breaks."""

        asked = 0

        @property
        def login_manager(self) -> Any:
            BrokenLoginFlask.asked += 1
            raise RuntimeError("context reader broke")

    app = make_app(BrokenLoginFlask)
    ea_flask.init_app(app, alerter)
    assert app.test_client().get("/boom").status_code == 500
    assert BrokenLoginFlask.asked > 0  # the context reader did break
    event = only_event(alerts)
    assert event.title == "RuntimeError: boom"
    # no Flask context, but the error and what the environ tells still reach chat
    assert event.request is not None
    assert (event.request.method, event.request.path, event.request.route) == ("GET", "/boom", None)


# -- handled errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/abort/404", 404),
        ("GET", "/not-found", 404),
        ("GET", "/no/such/page", 404),
        ("GET", "/abort/400", 400),
        ("GET", "/abort/403", 403),
        ("GET", "/abort/409", 409),
        ("GET", "/only-post", 405),
        ("GET", "/abort/503", 503),  # a deliberate answer too: no exception escaped
    ],
)
def test_http_exceptions_stay_quiet(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], method: str, path: str, status: int
) -> None:
    app = flask_app(alerter)
    signalled: list[BaseException] = []

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        signalled.append(exception)

    with got_request_exception.connected_to(record, app):
        assert app.test_client().open(path, method=method).status_code == status
    assert signalled == []  # Flask answers them without the signal
    assert kinds_at_close(alerts, alerter) == []


@pytest.mark.parametrize("testing", [False, True])
def test_trapped_http_exceptions_stay_quiet(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], testing: bool
) -> None:
    # TRAP_HTTP_EXCEPTIONS sends them through handle_exception (and the signal), and with
    # TESTING they propagate out of wsgi_app as well: still not failures
    app = flask_app(alerter)
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    app.testing = testing
    signalled: list[BaseException] = []

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        signalled.append(exception)

    with got_request_exception.connected_to(record, app):
        if testing:
            with pytest.raises(NotFound):
                app.test_client().get("/abort/404")
        else:
            assert app.test_client().get("/abort/404").status_code == 500
    assert [type(e) for e in signalled] == [NotFound]
    assert kinds_at_close(alerts, alerter) == []


# -- streaming ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "title", "endpoint"),
    [
        ("/stream/plain", "RuntimeError: stream broke midway", "stream_plain"),
        ("/stream/context", "LookupError: stream lost its source", "stream_context"),
    ],
)
def test_streaming_error_alerts_once_with_route(
    alerter: erralert.Alerter,
    alerts: list[CapturedAlert],
    path: str,
    title: str,
    endpoint: str,
) -> None:
    app = flask_app(alerter)
    signalled: list[BaseException] = []

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        signalled.append(exception)

    with got_request_exception.connected_to(record, app):
        response = app.test_client().get(path)
        assert response.status_code == 200  # the headers went out before the error
        with pytest.raises((RuntimeError, LookupError)):
            response.get_data()
    assert signalled == []  # which is why init_app wraps wsgi_app
    event = only_event(alerts)
    assert event.title == title
    assert event.request is not None
    assert (event.request.method, event.request.path) == ("GET", path)
    assert event.request.route == path
    assert event.tags == {"endpoint": endpoint}
    assert kinds_at_close(alerts, alerter) == ["alert"]


def test_streaming_error_names_the_url_rule_not_the_path(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)

    @app.get("/exports/<int:year>/<name>.csv")
    def export(year: int, name: str) -> Response:
        def rows() -> Iterator[str]:
            yield "a,b\n"
            raise OSError(f"export {name} of {year} lost its file")

        return Response(rows())

    response = app.test_client().get("/exports/2026/orders.csv")
    with pytest.raises(OSError, match="lost its file"):
        response.get_data()
    event = only_event(alerts)
    assert event.request is not None
    assert event.request.path == "/exports/2026/orders.csv"
    assert event.request.route == "/exports/<int:year>/<name>.csv"
    assert event.tags == {"endpoint": "export"}


def test_no_per_request_hook_is_installed(alerter: erralert.Alerter) -> None:
    # the happy path's cost (issue 8): the streamed-error context is read back from the
    # environ when such an error happens, not remembered by a hook on every request
    app = flask_app(alerter)
    for hooks in (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.teardown_appcontext_funcs,
    ):
        assert not any(hooks.values()) if isinstance(hooks, dict) else not hooks


def test_file_responses_pass_through(alerter: erralert.Alerter, tmp_path: Path) -> None:
    app = flask_app(alerter)
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")

    @app.get("/report")
    def download() -> Response:
        from flask import send_file

        return send_file(report)

    response = app.test_client().get("/report")
    assert (response.status_code, response.text) == (200, "a,b\n1,2\n")
    response.close()


# -- init_app together with the raw middleware ----------------------------------------------------
@pytest.mark.parametrize("order", ["init_app first", "middleware first"])
@pytest.mark.parametrize("path", ["/boom", "/stream/plain", "/stream/context"])
def test_init_app_and_raw_middleware_alert_once(
    alerts: list[CapturedAlert], order: str, path: str
) -> None:
    # the user's usual setup: both on the default alerter
    erralert.init(webhooks=[HOOK], window=300)
    app = make_app()
    if order == "init_app first":
        ea_flask.init_app(app)
        app.wsgi_app = erralert.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    else:
        app.wsgi_app = erralert.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
        ea_flask.init_app(app)
    response = app.test_client().get(path)
    if path.startswith("/stream"):
        with pytest.raises((RuntimeError, LookupError)):
            response.get_data()
    else:
        assert response.status_code == 500
    event = only_event(alerts)
    assert event.request is not None
    assert event.request.route == path  # the Flask context, whatever the order
    assert kinds_at_close(alerts) == ["alert"]


def test_init_app_twice_installs_once(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)
    wrapped = app.wsgi_app
    receivers = len(got_request_exception.receivers)
    ea_flask.init_app(app, alerter)
    assert app.wsgi_app is wrapped
    assert len(got_request_exception.receivers) == receivers
    app.test_client().get("/boom")
    assert kinds_at_close(alerts, alerter) == ["alert"]


def test_discarded_app_leaves_no_receiver(alerter: erralert.Alerter) -> None:
    gc.collect()
    before = len(got_request_exception.receivers)
    app = flask_app(alerter)
    assert len(got_request_exception.receivers) == before + 1
    del app
    gc.collect()
    assert len(got_request_exception.receivers) == before


@pytest.mark.parametrize("setup", ["init_app", "middleware, init_app", "init_app, middleware"])
def test_app_freed_on_zero_refcount(alerter: erralert.Alerter, setup: str) -> None:
    # Flask's own test_app_freed_on_zero_refcount, with init_app applied: no reference cycle
    # keeps a discarded app (tests, app factories) alive until the next collection
    gc.collect()
    gc.disable()
    try:
        app = Flask(__name__)
        for step in setup.split(", "):
            if step == "init_app":
                ea_flask.init_app(app, alerter)
            else:
                app.wsgi_app = erralert.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
        assert app.view_functions["static"]
        weak = weakref.ref(app)
        assert weak() is not None
        del app
        assert weak() is None
    finally:
        gc.enable()


def test_wsgi_app_without_its_app_says_so(alerter: erralert.Alerter) -> None:
    # init_app holds the app weakly (above): a wsgi_app kept without its app names the cause
    wsgi_app: Any = flask_app(alerter).wsgi_app
    gc.collect()
    with pytest.raises(ReferenceError, match="keep a reference to the Flask app"):
        wsgi_app({}, lambda status, headers, exc_info=None: None)


# -- Flask-Login ----------------------------------------------------------------------------------
def test_logged_in_user_id_only(alerter: erralert.Alerter, alerts: list[CapturedAlert]) -> None:
    app = flask_app(alerter)
    with_login(app)
    client = app.test_client()
    assert client.get("/login/u-17").text == "in"
    assert client.get("/me/boom").status_code == 500
    event = only_event(alerts)
    assert event.request is not None
    assert event.request.user == "u-17"
    assert "ada@example.com" not in str(alerts[0].payload)


def test_user_loaded_for_the_alert_when_the_view_did_not(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)
    with_login(app)
    client = app.test_client()
    client.get("/login/u-18")
    assert client.get("/boom").status_code == 500  # /boom never touches current_user
    event = only_event(alerts)
    assert event.request is not None
    assert event.request.user == "u-18"


def test_anonymous_user_is_none(alerter: erralert.Alerter, alerts: list[CapturedAlert]) -> None:
    app = flask_app(alerter)
    with_login(app)
    assert app.test_client().get("/boom").status_code == 500
    event = only_event(alerts)
    assert event.request is not None
    assert event.request.user is None


def test_streaming_error_names_the_logged_in_user(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)
    with_login(app)
    client = app.test_client()
    client.get("/login/u-19")
    response = client.get("/me/stream")
    with pytest.raises(RuntimeError, match="my stream broke"):
        response.get_data()
    event = only_event(alerts)
    assert event.request is not None
    assert (event.request.user, event.request.route) == ("u-19", "/me/stream")


def test_streaming_error_of_an_anonymous_or_forged_session_names_nobody(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)
    with_login(app)
    client = app.test_client()
    with pytest.raises(RuntimeError, match="stream broke midway"):
        client.get("/stream/plain").get_data()
    client.set_cookie("session", "forged.cookie.value")  # a bad signature reads as empty
    with pytest.raises(LookupError, match="lost its source"):
        client.get("/stream/context").get_data()
    users = [alert.notice.event.request.user for alert in alerts if alert.notice.event.request]
    assert users == [None, None]


def test_broken_user_loader_still_alerts(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    broken = False

    def load(user_id: str) -> User:
        if broken:
            raise ConnectionError("user database is down")
        return User(user_id)

    app = flask_app(alerter)
    with_login(app, load)
    client = app.test_client()
    client.get("/login/u-20")
    broken = True
    assert client.get("/boom").status_code == 500
    event = only_event(alerts)
    assert event.title == "RuntimeError: boom"
    assert event.request is not None
    assert event.request.user is None


def test_flask_login_installed_but_not_set_up(
    alerter: erralert.Alerter, alerts: list[CapturedAlert]
) -> None:
    app = flask_app(alerter)  # no LoginManager: current_user would raise
    assert app.test_client().get("/boom").status_code == 500
    event = only_event(alerts)
    assert event.request is not None
    assert (event.request.user, event.request.route) == (None, "/boom")


def test_without_flask_login_installed(
    alerter: erralert.Alerter, alerts: list[CapturedAlert], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = flask_app(alerter)
    app.login_manager = object()  # type: ignore[attr-defined]  # as if set up, then removed
    monkeypatch.setitem(sys.modules, "flask_login", None)
    assert app.test_client().get("/boom").status_code == 500
    event = only_event(alerts)
    assert event.request is not None
    assert (event.request.user, event.request.route) == (None, "/boom")


# -- configuration --------------------------------------------------------------------------------
def reporter_of(app: Flask) -> ea_flask.FlaskReporter:
    reporter = app.extensions["erralert"]
    assert isinstance(reporter, ea_flask.FlaskReporter)
    return reporter


def test_config_dict_builds_the_apps_own_alerter(alerts: list[CapturedAlert]) -> None:
    app = make_app()
    app.config["ERRALERT"] = {"webhooks": [HOOK], "service": "shop", "window": 60}
    ea_flask.init_app(app)
    own = reporter_of(app).alerter
    assert own is not None
    assert own is not erralert.get_alerter()
    assert (own.service, own.window) == ("shop", 60.0)
    app.test_client().get("/boom")
    assert only_event(alerts).service == "shop"
    own.close(0.1)


def test_config_dict_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", "webhook+http://127.0.0.1:9/from-env")
    monkeypatch.setenv("ERRALERT_ENVIRONMENT", "staging")
    monkeypatch.setenv("ERRALERT_SERVICE", "env-service")
    app = make_app()
    app.config["ERRALERT"] = {"service": "shop"}
    ea_flask.init_app(app)
    own = reporter_of(app).alerter
    assert own is not None
    assert (own.service, own.environment) == ("shop", "staging")  # the dict wins over env
    assert [c.platform for c in own.channels] == ["webhook"]
    own.close(0.1)


def test_keyword_options_win_over_the_config_dict() -> None:
    app = make_app()
    app.config["ERRALERT"] = {"webhooks": [HOOK], "service": "from-config"}
    ea_flask.init_app(app, service="from-init-app")
    own = reporter_of(app).alerter
    assert own is not None
    assert own.service == "from-init-app"
    own.close(0.1)


def test_explicit_alerter_is_used(alerter: erralert.Alerter) -> None:
    app = make_app()
    app.config["ERRALERT"] = {"service": "ignored"}
    ea_flask.init_app(app, alerter)
    assert reporter_of(app).alerter is alerter


def test_two_apps_two_alerters(alerts: list[CapturedAlert]) -> None:
    shop, admin = make_app(), make_app()
    shop.config["ERRALERT"] = {"webhooks": [HOOK], "service": "shop"}
    admin.config["ERRALERT"] = {"webhooks": [HOOK], "service": "admin"}
    ea_flask.init_app(shop)
    ea_flask.init_app(admin)
    shop.test_client().get("/boom")
    admin.test_client().post("/orders/1/pay")
    assert [(a.notice.event.service, a.notice.event.title) for a in alerts] == [
        ("shop", "RuntimeError: boom"),
        ("admin", "ValueError: payment declined for order 1"),
    ]
    for app in (shop, admin):
        own = reporter_of(app).alerter
        assert own is not None
        own.close(0.1)


def test_without_configuration_the_default_alerter_is_used(alerts: list[CapturedAlert]) -> None:
    first = erralert.init(webhooks=[HOOK], service="first")
    app = flask_app()
    assert reporter_of(app).alerter is first
    # resolved at report time: an erralert.init() after init_app takes effect
    second = erralert.init(webhooks=[HOOK], service="second")
    app.test_client().get("/boom")
    assert reporter_of(app).alerter is second
    assert only_event(alerts).service == "second"


def test_default_alerter_is_built_at_init_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", HOOK)
    monkeypatch.setenv("ERRALERT_SERVICE", "from-env")
    app = flask_app()
    assert erralert._default._default is not None
    assert erralert.get_alerter().service == "from-env"
    assert reporter_of(app).alerter is erralert.get_alerter()


@pytest.mark.parametrize(
    ("config", "options", "message"),
    [
        ({"webhooks": [HOOK], "windw": 5}, {}, "unknown option"),
        ("slack://T/B/X", {}, "must be a dict"),
        (None, {"colour": "red"}, "unknown option"),
        ({"window": -1}, {}, "window"),
    ],
)
def test_configuration_mistakes_raise_at_init_app(
    config: Any, options: dict[str, Any], message: str
) -> None:
    app = make_app()
    if config is not None:
        app.config["ERRALERT"] = config
    with pytest.raises(erralert.ConfigError, match=message):
        ea_flask.init_app(app, **options)
    assert "erralert" not in app.extensions


def test_alerter_and_options_together_raise(alerter: erralert.Alerter) -> None:
    with pytest.raises(erralert.ConfigError, match="not both"):
        ea_flask.init_app(make_app(), alerter, service="x")


def test_broken_environment_raises_at_init_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_WINDOW", "soon")
    with pytest.raises(erralert.ConfigError, match="ERRALERT_WINDOW"):
        ea_flask.init_app(make_app())


# -- packaging ------------------------------------------------------------------------------------
def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flask", None)
    monkeypatch.delitem(sys.modules, "erralert.integrations.flask")
    with pytest.raises(ImportError, match=r"pip install 'erralert\[flask\]'") as info:
        importlib.import_module("erralert.integrations.flask")
    assert "erralert.integrations.flask needs Flask" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_reference_app_has_exactly_one_erralert_line() -> None:
    source = (ROOT / "integrations" / "flask_app.py").read_text()
    marked = [line for line in source.splitlines() if "# erralert: the one line" in line]
    assert marked == ["erralert.integrations.flask.init_app(app)  # erralert: the one line"]
    assert "import erralert.integrations.flask\n" in source


# -- end to end: the reference app under gunicorn -------------------------------------------------
def double_wrapped_app() -> Flask:
    """gunicorn app factory (``module:double_wrapped_app()``): the reference app, wrapped in
    the raw WSGI middleware as well, after init_app."""
    from integrations.flask_app import app

    app.wsgi_app = erralert.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def read_into(chunks: list[bytes], stream: httpx.Response) -> None:
    for chunk in stream.iter_bytes():
        chunks.append(chunk)


def drive_reference_app(base: str) -> None:
    """Each distinct error exactly once (2 workers, in-memory store), plus two 404s."""
    with httpx.Client(base_url=base, timeout=10) as client:
        response = client.post("/orders/42/pay")
        assert response.status_code == 500
        assert "Internal Server Error" in response.text  # Flask's own page
        assert client.get("/inventory/ghost-sku").status_code == 500
        assert client.get("/orders/999").status_code == 404  # abort(404)
        assert client.get("/no/such/page").status_code == 404
        chunks: list[bytes] = []
        with client.stream("GET", "/orders/42/export") as stream:
            assert stream.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                read_into(chunks, stream)
        # the rows before the error arrived, then the server closed the connection
        assert b"".join(chunks) == b"item,quantity\nespresso,3\ncroissant,2\n"
    for _ in range(4):  # fresh connections, so both workers answer at least once
        assert httpx.get(f"{base}/health", timeout=10).text == "ok"


def assert_one_alert_per_error(receiver: Receiver) -> None:
    documents = [r.json for r in receiver.requests]
    # anything but 3 alerts (a doubled capture shows as a digest of 1 at shutdown) fails
    assert [d["kind"] for d in documents] == ["alert"] * 3, documents
    requests = {d["event"]["exceptions"][-1]["type"]: d["event"]["request"] for d in documents}
    assert set(requests) == {"PaymentDeclined", "KeyError", "RuntimeError"}
    expected = {
        "PaymentDeclined": ("POST", "/orders/<int:order_id>/pay", "/orders/42/pay"),
        "KeyError": ("GET", "/inventory/<sku>", "/inventory/ghost-sku"),
        "RuntimeError": ("GET", "/orders/<int:order_id>/export", "/orders/42/export"),
    }
    for kind, (method, route, path) in expected.items():
        assert (requests[kind]["method"], requests[kind]["route"]) == (method, route)
        assert requests[kind]["path"] == path
    endpoints = sorted(d["event"]["tags"]["endpoint"] for d in documents)
    assert endpoints == ["export", "inventory", "pay"]


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_reference_app_under_gunicorn(receiver: Receiver) -> None:
    env = {"ERRALERT_WEBHOOKS": f"webhook+{receiver.base}/hook", "ERRALERT_WINDOW": "300"}
    with gunicorn("integrations.flask_app:app", workers=2, env=env) as base:
        drive_reference_app(base)
        assert len(receiver.wait_for(3, timeout=15)) >= 3
    # the workers flushed at exit: what arrived now is everything
    assert_one_alert_per_error(receiver)


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_init_app_plus_raw_middleware_under_gunicorn(receiver: Receiver) -> None:
    env = {"ERRALERT_WEBHOOKS": f"webhook+{receiver.base}/hook", "ERRALERT_WINDOW": "300"}
    app = "tests.integrations.test_flask:double_wrapped_app()"
    with gunicorn(app, workers=1, env=env) as base:
        drive_reference_app(base)
        assert len(receiver.wait_for(3, timeout=15)) >= 3
    assert_one_alert_per_error(receiver)
