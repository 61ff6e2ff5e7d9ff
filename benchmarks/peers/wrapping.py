"""Every app a peer's test suite builds goes through erralert, reporting to a mock webhook.

:func:`install` patches the two places where the suites hand an app over: Starlette's
``TestClient`` (the app is wrapped in :class:`erralert.ASGIMiddleware`, an ASGI2 app
adapted to ASGI3 first, as the client itself would) and ``flask.Flask.__init__`` (every
app, subclasses included, goes through :func:`erralert.integrations.flask.init_app`). All
apps share one :class:`erralert.Alerter` whose webhook is a :class:`MockWebhook`: alerts
are rendered and posted as a user's would be, and nothing leaves the process.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx

from erralert import Alerter, ASGIMiddleware

__all__ = [
    "FRAMEWORKS",
    "WEBHOOK",
    "ASGI2Adapter",
    "ErralertLog",
    "MockWebhook",
    "Seen",
    "Wrapping",
    "install",
    "is_asgi3",
    "wrap_asgi",
]

# a generic JSON webhook on a reserved name: the transport below answers for it, and were
# it ever used without that transport, .invalid never resolves
WEBHOOK = "webhook+https://peers.invalid/alerts"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class MockWebhook(httpx.MockTransport):
    """The chat platform: answers every post with 200 (``reachable``) or refuses the
    connection (not ``reachable``, a webhook that is down), and keeps each post's title."""

    def __init__(self, *, reachable: bool = True) -> None:
        super().__init__(self._answer)
        self.reachable = reachable
        self._lock = threading.Lock()  # posts arrive on the delivery worker's thread
        self._titles: list[str] = []

    @property
    def titles(self) -> list[str]:
        """The event title of every post received (refused ones included), in order."""
        with self._lock:
            return list(self._titles)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        try:
            document = json.loads(request.content)
            # the event's own title ("KeyError: 'x'"): the message's title is decorated
            event = document.get("event") or document
            title = str(event.get("title", ""))
        except (ValueError, AttributeError):
            title = ""  # a payload template may send anything
        with self._lock:
            self._titles.append(title)
        if not self.reachable:
            raise httpx.ConnectError("connection refused (mock webhook down)", request=request)
        return httpx.Response(200, json={"ok": True})


class ASGI2Adapter:
    """An ASGI2 app (``app(scope)`` returns ``instance(receive, send)``) as ASGI3, the form
    :class:`erralert.ASGIMiddleware` wraps; what Starlette's ``TestClient`` does itself."""

    def __init__(self, app: Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


def is_asgi3(app: object) -> bool:
    """The test ``TestClient`` applies: a class is ASGI3 when its instances are awaitable,
    anything else when calling it (or its ``__call__``) is a coroutine function."""
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    target: Any = app
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.iscoroutinefunction(target) or (
        callable(target) and inspect.iscoroutinefunction(target.__call__)
    )


def wrap_asgi(app: Any, alerter: Alerter) -> ASGIMiddleware:
    """``app`` in erralert's middleware, adapted first when it speaks ASGI2."""
    return ASGIMiddleware(app if is_asgi3(app) else ASGI2Adapter(app), alerter=alerter)


class ErralertLog(logging.Handler):
    """What erralert logs at WARNING and above while the suite runs. Its ERROR records are
    its own failures (a capture or a flush that raised, a delivery worker that died): the
    app never sees them, but the alerts are lost, so the check counts them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.running = ""  # the test running now (the plugin says), named in each message

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        if self.running:
            # "while", not "in": the delivery worker logs from its own thread, at its pace
            message = f"while {self.running} ran: {message}"
        (self.errors if record.levelno >= logging.ERROR else self.warnings).append(message)


@dataclass(frozen=True)
class Seen:
    """What erralert did during the suite."""

    posts: int  # posts the mock webhook received
    warnings: tuple[str, ...]  # erralert's WARNING records
    errors: tuple[str, ...]  # erralert's ERROR records: its own failures


@dataclass(frozen=True)
class Wrapping:
    """What :func:`install` did; :meth:`finish` undoes it and says what erralert did."""

    alerter: Alerter
    webhook: MockWebhook
    undo: tuple[Callable[[], None], ...]
    log: ErralertLog

    def finish(self, timeout: float = 5.0) -> Seen:
        """Deliver what is queued (within ``timeout``), restore the patched classes and the
        logger."""
        self.alerter.close(timeout)
        for step in reversed(self.undo):
            step()
        return Seen(len(self.webhook.titles), tuple(self.log.warnings), tuple(self.log.errors))


FRAMEWORKS = ("starlette", "flask")


def install(frameworks: Iterable[str] = FRAMEWORKS, *, reachable: bool = True) -> Wrapping:
    """Patch Starlette's ``TestClient`` (``"starlette"``) and Flask's ``Flask``
    (``"flask"``) so that every app goes through erralert, with one alerter posting to a
    :class:`MockWebhook`. Only the frameworks named are imported."""
    chosen = list(frameworks)
    unknown = sorted(set(chosen) - set(FRAMEWORKS))
    if unknown:
        raise ValueError(f"cannot wrap {', '.join(unknown)}: only {', '.join(FRAMEWORKS)}")
    webhook = MockWebhook(reachable=reachable)
    alerter = Alerter(webhooks=[WEBHOOK], transport=webhook)
    log = ErralertLog()
    patches = {"starlette": _patch_test_client, "flask": _patch_flask}
    undo = (
        _listen(log),
        *(patches[name](alerter) for name in FRAMEWORKS if name in chosen),
    )
    return Wrapping(alerter, webhook, undo, log)


def _listen(log: ErralertLog) -> Callable[[], None]:
    logger = logging.getLogger("erralert")
    level = logger.level
    logger.addHandler(log)
    # its warnings must reach the handler whatever level a test gives the root logger
    logger.setLevel(logging.WARNING if level == logging.NOTSET else min(level, logging.WARNING))

    def restore() -> None:
        logger.removeHandler(log)
        logger.setLevel(level)

    return restore


def _patch_test_client(alerter: Alerter) -> Callable[[], None]:
    from starlette.testclient import TestClient

    original = TestClient.__init__

    @functools.wraps(original)
    def wrapped_init(self: TestClient, app: Any, *args: Any, **kwargs: Any) -> None:
        original(self, wrap_asgi(app, alerter), *args, **kwargs)

    TestClient.__init__ = wrapped_init  # type: ignore[method-assign]

    def restore() -> None:
        TestClient.__init__ = original  # type: ignore[method-assign]

    return restore


def _patch_flask(alerter: Alerter) -> Callable[[], None]:
    from flask import Flask

    from erralert.integrations.flask import init_app

    original = Flask.__init__

    @functools.wraps(original)
    def wrapped_init(self: Flask, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        init_app(self, alerter=alerter)

    Flask.__init__ = wrapped_init  # type: ignore[method-assign]

    def restore() -> None:
        Flask.__init__ = original  # type: ignore[method-assign]

    return restore
