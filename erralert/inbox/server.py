"""Running the inbox: ``start()`` serves it from a background thread (tests, ``erralert
demo``), ``serve()`` in the foreground until Ctrl-C (``erralert inbox``).

uvicorn is in the ``demo`` extra, not a core dependency: it is imported only here, when an
inbox is started, with an error that says what to install.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from erralert.inbox.app import create_app, loopback_hosts
from erralert.inbox.store import MAX_BYTES, MAX_MESSAGES, InboxMessage, InboxStore

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

__all__ = ["RunningInbox", "default_db_path", "serve", "start"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def default_db_path() -> Path:
    """Where ``erralert inbox`` keeps its messages: ``$XDG_DATA_HOME/erralert/inbox.db``
    (``~/.local/share/erralert/inbox.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "erralert" / "inbox.db"


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - the dev environment has it
        raise ImportError(
            "the erralert inbox needs uvicorn: pip install 'erralert[demo]'"
        ) from None
    return uvicorn


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free one), made here so the port is known before the
    server runs and a busy port fails in the caller's thread."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and with Nagle on every answer waits 40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host headers the inbox answers: its loopback names and ``host``; any on a
    wildcard address, which needs a token (the token, not the name, guards it then)."""
    if host.strip("[]") in ("0.0.0.0", "::", ""):
        return None
    return loopback_hosts(port, host)


def _app(
    store: InboxStore,
    sock: socket.socket,
    host: str,
    secrets: Mapping[str, str] | None,
    keywords: Mapping[str, str] | None,
    token: str | None,
    on_message: Callable[[InboxMessage], None] | None,
) -> Starlette:
    """The inbox app ``start`` and ``serve`` run on the bound ``sock``: it answers only the
    Host headers of that address."""
    return create_app(
        store,
        secrets=secrets,
        keywords=keywords,
        token=token,
        on_message=on_message,
        hosts=_hosts(host, sock.getsockname()[1]),
    )


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if shown == "::":
        shown = "::1"
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class RunningInbox:
    """An inbox served from a daemon thread; ``stop()`` (or leaving the ``with`` block)
    shuts it down gracefully and closes its store."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, store: InboxStore, url: str
    ) -> None:
        self._server = server
        self._thread = thread
        self.store = store
        self.url = url  # http://127.0.0.1:PORT
        self.port = int(url.rsplit(":", 1)[1])

    def stop(self) -> None:
        """Stop serving (open requests finish), wait for the thread, close the store."""
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():  # a request that never ends: stop waiting for it
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT)
        self.store.close()

    def __enter__(self) -> RunningInbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningInbox {self.url}>"


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    db_path: str | os.PathLike[str] | None = None,
    secrets: Mapping[str, str] | None = None,
    token: str | None = None,
    on_message: Callable[[InboxMessage], None] | None = None,
    *,
    keywords: Mapping[str, str] | None = None,
    max_messages: int = MAX_MESSAGES,
    max_bytes: int = MAX_BYTES,
) -> RunningInbox:
    """Serve an inbox from a daemon thread and return once it listens.

    ``port=0`` picks a free port (``.port``, ``.url``); ``db_path=None`` keeps the messages
    in memory only; ``max_messages`` and ``max_bytes`` bound them (the oldest are dropped).
    The binding rule (a non-loopback ``host`` needs a ``token``) is the caller's: see
    ``require_token_for``.

    >>> with start() as inbox:                                  # doctest: +SKIP
    ...     alerter = Alerter([f"slack+{inbox.url}/services/T/B/X"])
    """
    uvicorn = _uvicorn()
    store = InboxStore(
        ":memory:" if db_path is None else os.fspath(db_path),
        max_messages=max_messages,
        max_bytes=max_bytes,
    )
    try:
        sock = _bind(host, port)
    except OSError:
        store.close()
        raise
    app = _app(store, sock, host, secrets, keywords, token, on_message)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to start()'s caller, not lost in the thread
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name="erralert-inbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT)
            store.close()
            raise RuntimeError("the erralert inbox did not start") from (
                failure[0] if failure else None
            )
        time.sleep(0.01)
    return RunningInbox(server, thread, store, _url(host, sock.getsockname()[1]))


def serve(
    host: str = "127.0.0.1",
    port: int = 8025,
    db_path: str | os.PathLike[str] | None = None,
    secrets: Mapping[str, str] | None = None,
    token: str | None = None,
    on_message: Callable[[InboxMessage], None] | None = None,
    *,
    keywords: Mapping[str, str] | None = None,
    ready: Callable[[str], None] | None = None,
    max_messages: int = MAX_MESSAGES,
    max_bytes: int = MAX_BYTES,
) -> None:
    """Serve an inbox in the foreground until Ctrl-C, then return (``erralert inbox``).
    Messages are kept in ``db_path`` (default: ``default_db_path()``); ``ready`` is called
    with the URL once the port is bound."""
    uvicorn = _uvicorn()
    store = InboxStore(
        default_db_path() if db_path is None else os.fspath(db_path),
        max_messages=max_messages,
        max_bytes=max_bytes,
    )
    try:
        sock = _bind(host, port)
    except OSError:
        store.close()
        raise
    try:
        app = _app(store, sock, host, secrets, keywords, token, on_message)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        if ready is not None:
            ready(_url(host, sock.getsockname()[1]))
        # uvicorn shuts down gracefully on Ctrl-C, then raises it again: that is the normal end
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
