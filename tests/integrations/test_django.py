"""The Django integration: one line in MIDDLEWARE.

In-process tests use Django's test clients (sync and async) with a small URLconf defined
here; the end-to-end tests boot the reference project (integrations/django_project) under
gunicorn (WSGI) and uvicorn (ASGI) and count what a real webhook receiver gets.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import django
import httpx
import pytest
from django.conf import settings
from freezegun import freeze_time

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="erralert-tests",
        ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
        ],
        # in memory, yet one database for every thread's connection, as a real one is (the
        # async client sends got_request_exception from a worker thread)
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": "file:erralert-django-tests?mode=memory&cache=shared",
            }
        },
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "erralert.integrations.django.ErrAlertMiddleware",
        ],
        ROOT_URLCONF=__name__,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        USE_TZ=True,
        LOGGING_CONFIG=None,  # keep the test process's logging as pytest set it up
    )
    django.setup()

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.core.exceptions import (
    BadRequest,
    ImproperlyConfigured,
    PermissionDenied,
    SuspiciousOperation,
)
from django.core.management import call_command
from django.core.signals import got_request_exception, setting_changed
from django.db import DatabaseError, connection
from django.db.backends.signals import connection_created
from django.db.backends.utils import CursorWrapper
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils.functional import SimpleLazyObject

import erralert
from erralert._core.event import Event
from erralert.integrations.django import ErrAlertMiddleware, request_from_django
from erralert.testing import CapturedAlert, capture_alerts
from tests.receiver import Receiver
from tests.servers import gunicorn, uvicorn_process


# -- the test project ----------------------------------------------------------------------------
class Conflict(Exception):
    """Turned into a page by MapErrorsMiddleware (a redirect or a 503)."""


def charge(pk: int) -> None:
    raise ValueError(f"card declined for order {pk}")


def pay(request: HttpRequest, pk: int) -> HttpResponse:
    charge(pk)
    return HttpResponse("paid")


async def report(request: HttpRequest, pk: int) -> HttpResponse:
    await asyncio.sleep(0)
    raise LookupError(f"report {pk} is gone")


def raiser(exc: Exception) -> Callable[[HttpRequest], HttpResponse]:
    def view(request: HttpRequest) -> HttpResponse:
        raise exc

    return view


def database_down(request: HttpRequest) -> HttpResponse:
    raise DatabaseError("connection refused")


def conflict(request: HttpRequest, kind: str) -> HttpResponse:
    raise Conflict(kind)


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("fine")


def whoami(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"failed for a user (authenticated: {request.user.is_authenticated})")


async def awhoami(request: HttpRequest) -> HttpResponse:
    user = await request.auser()  # type: ignore[attr-defined]  # set by AuthenticationMiddleware
    raise RuntimeError(f"failed for a user (authenticated: {user.is_authenticated})")


urlpatterns = [
    path("orders/<int:pk>/fail", pay),
    path("reports/<int:pk>/fail", report),
    path("missing", raiser(Http404("no such thing"))),
    path("denied", raiser(PermissionDenied())),
    path("suspicious", raiser(SuspiciousOperation("odd host"))),
    path("bad", raiser(BadRequest("bad input"))),
    path("db", database_down),
    path("conflict/<str:kind>", conflict),
    path("ok", ok),
    path("whoami/fail", whoami),
    path("awhoami/fail", awhoami),
]


class MapErrorsMiddleware:
    """Listed before ErrAlertMiddleware, so its process_exception runs after ours: turns
    Conflict into a redirect (handled) or into a 503 page (still a server error)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Conflict):
            if str(exception) == "redirect":
                return HttpResponseRedirect("/ok")
            return HttpResponse("try again later", status=503)
        return None


class BrokenMiddleware:
    """Listed after ErrAlertMiddleware: fails outside any view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raise RuntimeError("middleware broke")


MIDDLEWARE = list(settings.MIDDLEWARE)
ERRALERT = "erralert.integrations.django.ErrAlertMiddleware"


def middleware(*, before: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> list[str]:
    at = MIDDLEWARE.index(ERRALERT)
    return [*MIDDLEWARE[:at], *before, ERRALERT, *after, *MIDDLEWARE[at + 1 :]]


def _erralert_setting_changed() -> None:
    # what override_settings sends: the integration reads settings.ERRALERT again
    setting_changed.send(
        sender=None, setting="ERRALERT", value=getattr(settings, "ERRALERT", None), enter=True
    )


@pytest.fixture(autouse=True)
def _fresh_configuration() -> Iterator[None]:
    # conftest closes the default alerter around each test: settings.ERRALERT is read again
    _erralert_setting_changed()
    yield
    _erralert_setting_changed()


@pytest.fixture(scope="module")
def database() -> None:
    call_command("migrate", verbosity=0, run_syncdb=True)


def client() -> Client:
    return Client(raise_request_exception=False)


def aget(url: str, logged_in: Client | None = None, **extra: Any) -> HttpResponse:
    """GET through Django's async handler (with ``logged_in``'s session cookie)."""

    async def run() -> HttpResponse:
        c = AsyncClient(raise_request_exception=False)
        if logged_in is not None:
            c.cookies = logged_in.cookies
        return await c.get(url, **extra)  # type: ignore[no-any-return]

    return async_to_sync(run)()


def events(alerts: list[CapturedAlert]) -> list[Event]:
    return [a.notice.event for a in alerts if a.kind == "alert"]


class CountCaptures:
    """A before_send hook: sees every capture that passes identity dedupe."""

    def __init__(self) -> None:
        self.seen: list[Event] = []

    def __call__(self, event: Event) -> Event:
        self.seen.append(event)
        return event


# -- in process: what is reported ----------------------------------------------------------------
def test_sync_view_error_reported_once_with_request_context() -> None:
    with capture_alerts() as alerts:
        r = client().get(
            "/orders/7/fail?coupon=x",
            HTTP_X_TRACE="abc",
            HTTP_AUTHORIZATION="Bearer s3cr3t-token",
            HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1",
        )
        assert r.status_code == 500
        assert client().get("/orders/8/fail").status_code == 500  # a repeat: counted
    [event] = events(alerts)
    assert event.title == "ValueError: card declined for order 7"
    request = event.request
    assert request is not None
    assert request.method == "GET"
    assert request.path == "/orders/7/fail"
    assert request.route == "orders/<int:pk>/fail"
    assert request.query == {"coupon": "x"}
    assert request.headers["x-trace"] == "abc"
    assert "s3cr3t-token" not in str(request.headers)  # scrubbed by the core
    assert request.client_ip == "203.0.113.9"
    assert request.user is None  # anonymous
    assert event.culprit.startswith(f"{__name__}.charge")


def test_async_view_error_reported_once() -> None:
    with capture_alerts() as alerts:
        r = aget("/reports/3/fail", headers={"User-Agent": "pytest-async"})
        assert r.status_code == 500
        assert aget("/reports/4/fail").status_code == 500
    [event] = events(alerts)
    assert event.title == "LookupError: report 3 is gone"
    assert event.request is not None
    assert event.request.route == "reports/<int:pk>/fail"
    assert event.request.method == "GET"
    assert event.request.path == "/reports/3/fail"
    assert event.request.user_agent == "pytest-async"


def test_middleware_is_sync_and_async_capable() -> None:
    assert ErrAlertMiddleware.sync_capable is True
    assert ErrAlertMiddleware.async_capable is True

    async def async_handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse("async")

    def sync_handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse("sync")

    on_async = ErrAlertMiddleware(async_handler)
    assert iscoroutinefunction(on_async)  # Django awaits it without a thread hop
    assert not iscoroutinefunction(ErrAlertMiddleware(sync_handler))
    request = RequestFactory().get("/")
    assert async_to_sync(on_async)(request).content == b"async"
    assert ErrAlertMiddleware(sync_handler)(request).content == b"sync"


@pytest.fixture
def server_sigterm() -> Iterator[list[int]]:
    """A handler standing in for an ASGI server's on SIGTERM; what it received."""
    got: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    yield got
    signal.signal(signal.SIGTERM, before)


def test_sigterm_chained_under_an_asgi_server_only(server_sigterm: list[int]) -> None:
    """An app built before its server runs (``uvicorn.run(application)``) is checked again
    at its first request on the server's loop; a WSGI app never is (exit hooks run)."""
    server = signal.getsignal(signal.SIGTERM)

    def sync_handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse("sync")

    async def async_handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse("async")

    ErrAlertMiddleware(sync_handler)(RequestFactory().get("/"))
    on_async = ErrAlertMiddleware(async_handler)  # no loop runs yet
    assert signal.getsignal(signal.SIGTERM) is server

    async def serve() -> None:
        assert (await on_async(RequestFactory().get("/"))).content == b"async"
        assert signal.getsignal(signal.SIGTERM) is not server  # chained in front
        signal.raise_signal(signal.SIGTERM)
        for _ in range(500):  # handed over from the flush thread, on this loop
            if server_sigterm:
                break
            await asyncio.sleep(0.01)

    asyncio.run(serve())
    assert server_sigterm == [signal.SIGTERM]


@pytest.mark.parametrize(
    "url", ["/missing", "/denied", "/suspicious", "/bad", "/no/such/url", "/conflict/redirect"]
)
@pytest.mark.parametrize("get", [lambda url: client().get(url), aget], ids=["sync", "async"])
def test_handled_errors_stay_quiet(url: str, get: Callable[[str], HttpResponse]) -> None:
    mapped = middleware(before=(f"{__name__}.MapErrorsMiddleware",))
    with override_settings(MIDDLEWARE=mapped), capture_alerts() as alerts:
        status = get(url).status_code
    assert status in (302, 400, 403, 404)
    assert alerts == []


@pytest.mark.parametrize("get", [lambda url: client().get(url), aget], ids=["sync", "async"])
def test_custom_5xx_page_from_another_middleware_still_alerts(
    get: Callable[[str], HttpResponse],
) -> None:
    """No got_request_exception here (Django did not build the 500): the middleware reports
    the view's exception because its response is a 5xx."""
    counter = CountCaptures()
    with (
        override_settings(
            MIDDLEWARE=middleware(before=(f"{__name__}.MapErrorsMiddleware",)),
            ERRALERT={"before_send": counter},
        ),
        capture_alerts() as alerts,
    ):
        r = get("/conflict/busy")
    assert r.status_code == 503
    assert [e.title for e in events(alerts)] == ["Conflict: busy"]
    assert len(counter.seen) == 1


@pytest.mark.parametrize("get", [lambda url: client().get(url), aget], ids=["sync", "async"])
def test_error_outside_the_view_is_reported_by_the_signal(
    get: Callable[[str], HttpResponse],
) -> None:
    broken = middleware(after=(f"{__name__}.BrokenMiddleware",))
    with override_settings(MIDDLEWARE=broken), capture_alerts() as alerts:
        assert get("/ok").status_code == 500
    [event] = events(alerts)
    assert event.title == "RuntimeError: middleware broke"
    assert event.request is not None
    assert event.request.path == "/ok"
    assert event.request.route is None  # failed before URL resolution


# -- in process: one exception, one capture --------------------------------------------------------
@pytest.mark.parametrize("get", [lambda url: client().get(url), aget], ids=["sync", "async"])
def test_each_exception_is_captured_once_by_middleware_signal_and_logging(
    get: Callable[[str], HttpResponse],
) -> None:
    """process_exception, got_request_exception and a LOGGING handler on django.request
    all see each exception: before_send (called for every capture the identity dedupe lets
    through) runs once per request, and the logging handler did receive the records."""
    counter = CountCaptures()
    records: list[logging.LogRecord] = []

    class Handler(erralert.LoggingHandler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            super().emit(record)

    handler = Handler()
    django_request = logging.getLogger("django.request")
    django_request.addHandler(handler)
    try:
        with override_settings(ERRALERT={"before_send": counter}), capture_alerts() as alerts:
            for pk in (1, 2, 3):
                assert get(f"/orders/{pk}/fail").status_code == 500
            for pk in (1, 2):
                assert get(f"/reports/{pk}/fail").status_code == 500
    finally:
        django_request.removeHandler(handler)
    assert len([r for r in records if r.exc_info]) == 5  # the logging path was exercised
    assert len(counter.seen) == 5
    assert all(e.logger is None for e in counter.seen)  # the middleware's capture came first
    assert sorted(e.title for e in events(alerts)) == [
        "LookupError: report 1 is gone",
        "ValueError: card declined for order 1",
    ]


# -- in process: configuration ---------------------------------------------------------------------
def test_settings_erralert_configures_the_default_alerter(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    monkeypatch.setenv("ERRALERT_ENVIRONMENT", "staging")  # the environment fills the gaps
    monkeypatch.setenv("ERRALERT_SERVICE", "from-env")  # settings win
    options = {"webhooks": [f"webhook+{receiver.base}/hook"], "service": "shop", "window": 300}
    with override_settings(ERRALERT=options):
        c = client()
        assert c.get("/orders/1/fail").status_code == 500
        alerter = erralert.get_alerter()
        assert c.get("/orders/2/fail").status_code == 500
        assert erralert.get_alerter() is alerter  # built once
        assert alerter.flush(5)
    [received] = receiver.wait_for(1)
    assert received.json["kind"] == "alert"
    event = received.json["event"]
    assert (event["service"], event["environment"]) == ("shop", "staging")
    assert event["request"]["route"] == "orders/<int:pk>/fail"


def test_without_settings_the_environment_configures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERRALERT_SERVICE", "env-shop")
    with capture_alerts() as alerts:
        assert client().get("/orders/1/fail").status_code == 500
    [event] = events(alerts)
    assert event.service == "env-shop"


def test_settings_erralert_is_read_once_per_process() -> None:
    # each init() replaces (and closes) the default alerter: one default alerter throughout
    # means settings.ERRALERT was turned into an alerter once
    with override_settings(ERRALERT={"service": "once"}), capture_alerts():
        client().get("/orders/1/fail")
        first = erralert.get_alerter()
        for _ in range(2):
            client().get("/orders/1/fail")  # each client loads the middleware again
        aget("/reports/1/fail")
        assert erralert.get_alerter() is first
        assert first.service == "once"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"window": -1}, "window must be a positive"),
        ({"webhooks": 123}, "not iterable"),
        (["slack://x"], "expected a dict"),
    ],
)
def test_broken_settings_fail_at_start_up(value: Any, message: str) -> None:
    with override_settings(ERRALERT=value), pytest.raises(ImproperlyConfigured, match=message):
        client().get("/ok")


def test_settings_broken_later_never_break_the_500_page(caplog: pytest.LogCaptureFixture) -> None:
    c = client()
    assert c.get("/ok").status_code == 200  # middleware loaded with good settings
    with override_settings(ERRALERT={"webhooks": 123}), capture_alerts() as alerts:
        r = c.get("/orders/1/fail")
    assert r.status_code == 500
    assert b"Server Error" in r.content  # Django's own 500 page
    assert [e.title for e in events(alerts)] == ["ValueError: card declined for order 1"]
    assert "settings.ERRALERT" in caplog.text  # reported with the default alerter instead


# -- in process: the user --------------------------------------------------------------------------
@pytest.fixture
def alice(database: None) -> Iterator[User]:
    user = User.objects.create_user("alice", "alice@example.com", "pw")
    yield user
    user.delete()


def test_authenticated_user_id_never_name_or_email(alice: User) -> None:
    c = client()
    c.force_login(alice)
    with capture_alerts() as alerts:
        assert c.get("/whoami/fail").status_code == 500  # the view read request.user
    [alert] = [a for a in alerts if a.kind == "alert"]
    assert alert.notice.event.request is not None
    assert alert.notice.event.request.user == str(alice.pk)
    rendered = alert.title + alert.body + str(alert.notice.event.to_dict())
    assert "alice" not in rendered


@pytest.mark.parametrize(
    ("url", "user"),
    [
        ("/whoami/fail", "alice"),  # request.user read by the view
        ("/awhoami/fail", "alice"),  # await request.auser(): the lazy request.user stays unread
        ("/orders/1/fail", None),  # nobody loaded the user: erralert does not either
    ],
)
@pytest.mark.parametrize("get", ["sync", "async"])
def test_the_user_is_reported_when_the_request_loaded_it(
    alice: User, url: str, user: str | None, get: str
) -> None:
    c = client()
    c.force_login(alice)
    with capture_alerts() as alerts:
        if get == "sync":
            assert c.get(url).status_code == 500
        else:
            assert aget(url, logged_in=c).status_code == 500
    [event] = events(alerts)
    assert event.request is not None
    assert event.request.user == (str(alice.pk) if user else None)


def lazy_user(loaded: list[bool]) -> SimpleLazyObject:
    """Like AuthenticationMiddleware's request.user: loaded (a query) on first access."""

    def load() -> User:
        loaded.append(True)
        return User(pk=41, username="bob")

    return SimpleLazyObject(load)


LOADED: list[bool] = []


class LazyUserMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user = lazy_user(LOADED)
        return self.get_response(request)


def test_no_user_without_auth_and_no_database_access() -> None:
    request = RequestFactory().get("/orders/1/fail")  # no AuthenticationMiddleware: no .user
    with CaptureQueriesContext(connection) as queries:
        assert request_from_django(request, load_user=True).user is None
    assert len(queries) == 0


def test_lazy_user_read_only_once_loaded() -> None:
    request = RequestFactory().get("/x")
    loaded: list[bool] = []
    request.user = lazy_user(loaded)
    assert request_from_django(request).user is None  # not loaded: not read
    assert loaded == []
    assert request.user.pk == 41  # the app loads it
    assert request_from_django(request).user == "41"
    assert loaded == [True]  # once, by the app


def test_load_user_loads_it_on_request() -> None:
    request = RequestFactory().get("/x")
    loaded: list[bool] = []
    request.user = lazy_user(loaded)
    assert request_from_django(request, load_user=True).user == "41"
    assert loaded == [True]
    request.user = AnonymousUser()
    assert request_from_django(request, load_user=True).user is None


def test_a_user_set_as_is_is_read() -> None:
    """login(), RemoteUserMiddleware and custom middleware put the user object itself."""
    request = RequestFactory().get("/x")
    request.user = User(pk=7, username="carol")
    assert request_from_django(request).user == "7"
    request.user = AnonymousUser()
    assert request_from_django(request).user is None


@pytest.mark.parametrize("url", ["/db", "/orders/1/fail", "/missing"])
@pytest.mark.parametrize("get", [lambda url: client().get(url), aget], ids=["sync", "async"])
def test_reporting_never_loads_the_user(url: str, get: Callable[[str], HttpResponse]) -> None:
    LOADED.clear()
    lazy = [f"{__name__}.LazyUserMiddleware", ERRALERT]
    with override_settings(MIDDLEWARE=lazy), capture_alerts() as alerts:
        get(url)
    assert LOADED == []
    assert [e.request.user for e in events(alerts) if e.request] == (
        [] if url == "/missing" else [None]
    )


# -- in process: a 500 is the same with and without erralert --------------------------------------
@contextmanager
def without_erralert() -> Iterator[None]:
    """The project as if erralert were not installed: not in MIDDLEWARE, its receiver of
    got_request_exception disconnected (the next middleware load connects it again)."""
    got_request_exception.disconnect(dispatch_uid="erralert.integrations.django.exception")
    with override_settings(MIDDLEWARE=[m for m in MIDDLEWARE if m != ERRALERT]):
        yield


@dataclass(frozen=True)
class Outcome:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    queries: list[str]  # every statement, whichever thread ran it
    connections: list[str]  # the threads that opened a database connection
    session_kept: bool | None  # None: no session to keep


@contextmanager
def database_activity(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], list[str]]]:
    """Every SQL statement and every new connection inside the block, from any thread (the
    async handler runs parts of a request in worker threads, each with its connection)."""
    queries: list[str] = []
    opened: list[str] = []
    real_execute, real_executemany = CursorWrapper.execute, CursorWrapper.executemany

    def execute(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        queries.append(sql)
        return real_execute(self, sql, params)

    def executemany(self: CursorWrapper, sql: str, param_list: Any) -> Any:
        queries.append(sql)
        return real_executemany(self, sql, param_list)

    def created(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(threading.current_thread().name)

    with monkeypatch.context() as patch:
        patch.setattr(CursorWrapper, "execute", execute)
        patch.setattr(CursorWrapper, "executemany", executemany)
        connection_created.connect(created)
        try:
            yield queries, opened
        finally:
            connection_created.disconnect(created)


def a_500(
    monkeypatch: pytest.MonkeyPatch, get: str, url: str, who: str, user: User | None
) -> Outcome:
    """One request as a visitor ``who`` (anonymous, logged-in, stale: logged in before the
    password changed), on a fresh session."""
    c = client()
    if user is not None and who != "anonymous":
        user.set_password("pw")
        user.save()
        c.force_login(user)
        if who == "stale":  # the session's auth hash no longer verifies
            user.set_password("changed elsewhere")
            user.save()
    key = c.cookies["sessionid"].value if "sessionid" in c.cookies else None
    with database_activity(monkeypatch) as (queries, opened):
        response = c.get(url) if get == "sync" else aget(url, logged_in=c)
    return Outcome(
        status=response.status_code,
        headers=dict(response.items()),
        cookies={name: morsel.OutputString() for name, morsel in response.cookies.items()},
        queries=queries,
        connections=opened,
        session_kept=None if key is None else Session.objects.filter(session_key=key).exists(),
    )


@pytest.mark.parametrize("url", ["/orders/1/fail", "/whoami/fail", "/awhoami/fail"])
@pytest.mark.parametrize("who", ["anonymous", "logged-in", "stale"])
@pytest.mark.parametrize("get", ["sync", "async"])
def test_a_500_is_the_same_with_and_without_erralert(
    monkeypatch: pytest.MonkeyPatch, alice: User, get: str, who: str, url: str
) -> None:
    """Same status, headers (no ``Vary: Cookie`` of a session read for erralert), cookies
    (a stale session is not logged out by the error page) and queries, on every thread;
    each request here is the first occurrence of its error, the one erralert reports with
    the request's context."""
    with without_erralert():
        plain = a_500(monkeypatch, get, url, who, alice)
    with capture_alerts() as alerts:
        reported = a_500(monkeypatch, get, url, who, alice)
    assert len(events(alerts)) == 1
    assert reported == plain
    assert reported.status == 500
    if who != "anonymous" and url == "/orders/1/fail":  # nothing read the session
        assert reported.session_kept is True
        assert reported.queries == []
        assert "Vary" not in reported.headers


# -- missing Django ------------------------------------------------------------------------------
@pytest.mark.e2e
def test_import_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['django'] = None\n"
        "try:\n"
        "    import erralert.integrations.django\n"
        "except ImportError as exc:\n"
        "    print(exc, '|', type(exc.__cause__).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == (
        "erralert.integrations.django needs Django: pip install 'erralert[django]'"
        " | ModuleNotFoundError"
    )


# -- end to end: the reference project under its real servers ------------------------------
PROJECT = "integrations.django_project"
FAILING = {  # url -> exception type; each sent REPEAT times with different ids
    "/orders/{i}/fail": ("PaymentDeclined", "orders/<int:pk>/fail"),
    "/reports/weekly-{i}/fail": ("TimeoutError", "reports/<slug:name>/fail"),
}
QUIET = {"/orders/999/": 404, "/no/such/page": 404, "/admin-only/": 403, "/": 200}
REPEAT = 4
ROUTES = dict(FAILING.values())  # exception type -> route template
EXPECTED_OCCURRENCES = dict.fromkeys(ROUTES, REPEAT)


def drive(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as http:
        for i in range(REPEAT):
            for url in FAILING:
                assert http.get(url.format(i=i)).status_code == 500
            for url, status in QUIET.items():
                assert http.get(url).status_code == status


def wait_for_alerts(receiver: Receiver, kinds: set[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {r.json["event"]["exceptions"][-1]["type"] for r in receiver.requests}
        if kinds <= got:
            return
        receiver.wait_for(len(receiver.requests) + 1, timeout=0.5)
    raise AssertionError(f"alerts for {kinds} did not arrive: {receiver.requests}")


def occurrences(receiver: Receiver) -> dict[str, int]:
    """Occurrences counted per exception type, over the alerts and the digests received."""
    counts: defaultdict[str, int] = defaultdict(int)
    for received in receiver.requests:
        doc = received.json
        counts[doc["event"]["exceptions"][-1]["type"]] += doc["occurrences"]["count"]
    return dict(counts)


def check_received(receiver: Receiver, processes: int) -> None:
    """Per process (the throttle is per process with the in-memory store): one alert per
    distinct error, with its route template and method. Counting the digests too, every
    request's exception was counted exactly once (twice would mean that a second hook
    reported it again); nothing for the 404s and the 403."""
    alerts: Counter[tuple[str, int]] = Counter()
    for received in receiver.requests:
        doc = received.json
        if doc["kind"] == "alert":
            event = doc["event"]
            kind = event["exceptions"][-1]["type"]
            alerts[kind, event["pid"]] += 1
            assert event["request"]["route"] == ROUTES[kind]
            assert event["request"]["method"] == "GET"
            assert event["request"]["path"].endswith("/fail")
    assert {kind for kind, _ in alerts} == set(ROUTES)
    assert set(alerts.values()) == {1}
    assert len(alerts) <= processes * len(ROUTES)
    assert occurrences(receiver) == EXPECTED_OCCURRENCES


def env_for(receiver: Receiver, window: float, **extra: str) -> dict[str, str]:
    hook = f"webhook+{receiver.base}/hook"
    return {"ERRALERT_WEBHOOKS": hook, "ERRALERT_WINDOW": str(window), **extra}


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_e2e_gunicorn_wsgi(receiver: Receiver) -> None:
    """Two sync workers; the repeats arrive as digests when gunicorn stops them (SIGTERM:
    the workers exit through atexit, which flushes)."""
    env = env_for(receiver, window=300)
    with gunicorn(f"{PROJECT}.wsgi:application", workers=2, env=env) as base:
        drive(base)
        wait_for_alerts(receiver, set(ROUTES))
    check_received(receiver, processes=2)


def flush_after_window(receiver: Receiver, store: str) -> None:
    """A process alive after the window's end claims the digests of the repeats that the
    workers left in the shared store: the test process itself, its clock jumped past the
    end (no sleeping through the window, no race with it)."""
    alerter = erralert.Alerter([f"webhook+{receiver.base}/hook"], window=300, store=store)
    try:
        later = datetime.fromtimestamp(time.time() + 305, tz=UTC)
        # tick: the outbox's deadline clock keeps moving; real_asyncio: so does its loop
        with freeze_time(later, tick=True, real_asyncio=True):
            assert alerter.flush(10)
    finally:
        alerter.close(5)


@pytest.mark.timeout(60)
@pytest.mark.e2e
def test_e2e_gunicorn_wsgi_shared_store_alerts_once(receiver: Receiver, tmp_path: Path) -> None:
    """Two workers sharing a SQLite store: exactly one alert per distinct error in all (the
    window is long: a slow run cannot end it between two requests), and the repeats of both
    workers, left in the store when they stop, arrive in the digest of the window."""
    store = f"sqlite:///{tmp_path}/erralert.db"
    env = env_for(receiver, window=300, ERRALERT_STORE=store)
    with gunicorn(f"{PROJECT}.wsgi:application", workers=2, env=env) as base:
        drive(base)
        wait_for_alerts(receiver, set(ROUTES))
    flush_after_window(receiver, store)
    check_received(receiver, processes=1)
    alerts = [r.json["event"] for r in receiver.requests if r.json["kind"] == "alert"]
    assert sorted(e["exceptions"][-1]["type"] for e in alerts) == sorted(ROUTES)


# uvicorn ends a SIGTERM'd process by raising the signal again (no exit hooks) and runs no
# lifespan for Django: the middleware delivers what is queued first, the repeats counted in
# open windows included, then hands uvicorn the signal
@pytest.mark.timeout(60)
@pytest.mark.parametrize("log_to_erralert", [False, True], ids=["middleware", "with-LOGGING"])
@pytest.mark.e2e
def test_e2e_uvicorn_asgi(receiver: Receiver, log_to_erralert: bool) -> None:
    """With LOGGING sending django.request to erralert.LoggingHandler as well, each
    exception is still counted once, and alerted by the middleware (no logger name)."""
    env = env_for(receiver, window=300, DJANGO_LOG_TO_ERRALERT=str(int(log_to_erralert)))
    with uvicorn_process(f"{PROJECT}.asgi:application", env=env) as base:
        drive(base)
        wait_for_alerts(receiver, set(ROUTES))
    check_received(receiver, processes=1)  # the digests arrived at SIGTERM
    alerts = [r.json["event"] for r in receiver.requests if r.json["kind"] == "alert"]
    assert len(alerts) == len(ROUTES)  # one process: exactly one alert per error
    assert [e["logger"] for e in alerts] == [None] * len(ROUTES)
