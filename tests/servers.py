"""Real servers for end-to-end tests: uvicorn, wsgiref and waitress on 127.0.0.1 in a thread,
and servers started as subprocesses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def uvicorn_server(app: Any) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:  # wsgiref prints app tracebacks
        pass


@contextmanager
def wsgi_server(app: Callable[..., Any]) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    server.timeout = 0.1
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def waitress_server(app: Callable[..., Any]) -> Iterator[str]:
    """waitress with one worker thread, its main loop in a thread; leaving lets the request
    being served finish first."""
    from waitress import wasyncore  # type: ignore[import-untyped]
    from waitress.server import create_server  # type: ignore[import-untyped]

    channels: dict[int, Any] = {}
    server = create_server(app, map=channels, host="127.0.0.1", port=0, threads=1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.task_dispatcher.shutdown()
        # closed on the main loop's own thread, which then finds nothing left to serve
        server.trigger.pull_trigger(lambda: wasyncore.close_all(channels))
        thread.join(10)


def wait_for_port(port: int, timeout: float = 20.0, process: Any = None) -> None:
    """Until something listens on 127.0.0.1:``port`` (or ``process`` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@contextmanager
def server_process(
    argv: list[str], port: int, env: dict[str, str] | None = None, cwd: str | None = None
) -> Iterator[str]:
    """A server started as a subprocess (gunicorn, uvicorn, a celery worker's broker …),
    stopped with SIGTERM (then SIGKILL) at the end. Its output goes to a temporary file that
    is printed if the server fails to start or the test fails."""
    full_env = {**os.environ, **(env or {})}
    root = str(Path(__file__).resolve().parent.parent)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, full_env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            argv, env=full_env, cwd=cwd or root, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            try:
                wait_for_port(port, process=process)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))
                raise
            try:
                yield f"http://127.0.0.1:{port}"
            except BaseException:
                # the test failed: what the server said is part of the report
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))
                raise
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def gunicorn(app: str, *, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[str]:
    """``gunicorn app`` (``module:callable``) with ``workers`` sync workers on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", app, "-b", f"127.0.0.1:{port}"]
    argv += ["-w", str(workers), "--graceful-timeout", "5", "--log-level", "warning"]
    with server_process(argv, port, env) as url:
        yield url


@contextmanager
def uvicorn_process(app: str, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """``uvicorn app`` (``module:attribute``) as a subprocess on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    with server_process([*argv, "--log-level", "warning"], port, env) as url:
        yield url


@contextmanager
def redis_server(*options: str, port: int | None = None) -> Iterator[str]:
    """A throwaway ``redis-server`` on a free port (or ``port``), no persistence, its
    working directory a temporary one (a replica's full sync writes its RDB file there);
    ``options``: more of its command line (``"--maxmemory", "1mb"``). Yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (.ci/run installs it)")
    port = port or free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with tempfile.TemporaryDirectory() as directory:
        argv += ["--dir", directory, "--repl-diskless-sync-delay", "0", *options]
        with server_process(argv, port):
            yield f"redis://127.0.0.1:{port}/0"
