"""Real servers stopped with SIGINT while an alert cannot be delivered.

The webhook takes the connection and never answers. erralert then waits ``shutdown_timeout``
at the end of the lifespan, once (not once more at exit), and in a thread of its own: the
app's event loop goes on serving its tasks meanwhile (tests/shutdown_app.py has one write
the time every 20 ms). So the server exits within ``shutdown_timeout`` (plus 0.5 s) of the
time it takes without erralert.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent.parent
SHUTDOWN_TIMEOUT = 1.0
TICK = 0.02  # tests/shutdown_app.py


@pytest.fixture
def unanswering_webhook() -> Iterator[str]:
    """A webhook URL whose server accepts connections and never answers."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        yield f"webhook+http://127.0.0.1:{hole.getsockname()[1]}/hook"


def argv(server: str, app: str, port: int) -> list[str]:
    if server == "hypercorn":
        return [sys.executable, "-m", "hypercorn", app, "-b", f"127.0.0.1:{port}"]
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]


def serve_a_failure_then_interrupt(
    server: str, app: str, webhook: str, ticks: Path
) -> tuple[float, list[str]]:
    """Start ``server`` with ``app``, make one request fail, send SIGINT; the seconds until
    the process exited, and its output."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SHUTDOWN_APP_WEBHOOK": webhook,
        "SHUTDOWN_APP_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "SHUTDOWN_APP_TICKS": str(ticks),
    }
    process = subprocess.Popen(
        [*argv(server, f"tests.shutdown_app:{app}", port), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, process=process)
        assert httpx.get(f"http://127.0.0.1:{port}/fail", timeout=10).status_code == 500
        # the alert has gone out (and hangs) before the server is told to stop
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0, output
    return took, output.splitlines()


def loop_turns(ticks: Path) -> tuple[float, list[float]]:
    """When the lifespan's end began, and the times the app's ticking task wrote after."""
    lines = ticks.read_text(encoding="utf-8").splitlines()
    shutdown = next(float(line.split()[1]) for line in lines if line.startswith("shutdown"))
    after = [float(line) for line in lines if not line.startswith("shutdown")]
    return shutdown, [t for t in after if t >= shutdown]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["hypercorn", "uvicorn"])
def test_sigint_waits_shutdown_timeout_once_and_off_the_loop(
    server: str, unanswering_webhook: str, tmp_path: Path
) -> None:
    bare, _ = serve_a_failure_then_interrupt(
        server, "unwrapped", unanswering_webhook, tmp_path / "bare.ticks"
    )
    took, output = serve_a_failure_then_interrupt(
        server, "wrapped", unanswering_webhook, tmp_path / "wrapped.ticks"
    )
    assert took <= bare + SHUTDOWN_TIMEOUT + 0.5, (bare, took)
    # it did wait for the alert, and said what it left behind
    assert took >= SHUTDOWN_TIMEOUT
    assert any("erralert: closing with 1 message(s) undelivered" in line for line in output)
    # the loop served the ticking task all through the flush: no pause longer than a few
    # ticks (a flush on the loop would leave one gap of the whole shutdown_timeout)
    shutdown, turns = loop_turns(tmp_path / "wrapped.ticks")
    assert turns, "the ticking task never ran after the lifespan's end began"
    assert turns[-1] - shutdown >= 0.8 * SHUTDOWN_TIMEOUT
    gaps = [b - a for a, b in zip([shutdown, *turns], turns, strict=False)]
    assert max(gaps) < 0.25, max(gaps)
