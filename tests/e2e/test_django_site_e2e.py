"""Django with a database, sessions and logins (tests/e2e/django_site) under its real servers:
what erralert must never change, and what it must deliver when uvicorn is told to stop.

1. gunicorn (WSGI) and uvicorn (ASGI), anonymous, logged in, and logged in with a stale
   session (the password changed since): every 500 has the same status, headers, cookies
   and SQL (every thread's, from the site's query log) with erralert as without it; the
   stale session survives the error page; no database file is left open. Every request is
   the first occurrence of its error (a window of 1 ms), the one erralert reports with the
   request's context — and the user's id when the view loaded the user.
2. uvicorn ends a SIGTERM'd process without exit hooks: erralert delivers what is queued,
   the repeats counted in open windows included, before uvicorn gets the signal; with the
   webhook down, the process still ends by SIGTERM within ``shutdown_timeout`` of the time
   it takes without erralert, keeps answering requests meanwhile, and says what was lost.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.receiver import Answer, Receiver
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
SITE = "tests.e2e.django_site"
SERVERS = {
    "gunicorn": [
        *(sys.executable, "-m", "gunicorn", f"{SITE}.wsgi:application"),
        *("-w", "1", "--graceful-timeout", "5", "--log-level", "warning"),
    ],
    "uvicorn": [sys.executable, "-m", "uvicorn", f"{SITE}.asgi:application"],
}
FAILING = ["/fail", "/afail", "/fail-after-user", "/afail-after-user"]
READS_USER = {"/fail-after-user", "/afail-after-user"}


@dataclass
class Site:
    process: subprocess.Popen[bytes]
    base: str
    db: Path
    query_log: Path
    output: Path

    def queries_since(self, mark: int) -> list[str]:
        return self.query_log.read_text().splitlines()[mark:] if self.query_log.exists() else []

    def query_mark(self) -> int:
        return len(self.queries_since(0))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("django-site") / "template.db"
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v0"],
        env=site_env(db),
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return db


def site_env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, "DJANGO_SETTINGS_MODULE": f"{SITE}.settings", "DJANGO_SITE_DB": str(db), **extra}


@contextmanager
def site(server: str, migrated: Path, tmp: Path, *, erralert: bool, **env: str) -> Iterator[Site]:
    """The site on a copy of the migrated database, stopped with SIGTERM at the end."""
    name = f"{server}-{'erralert' if erralert else 'plain'}"
    db = tmp / f"{name}.db"
    shutil.copy(migrated, db)
    query_log, output = tmp / f"{name}.sql", tmp / f"{name}.out"
    full_env = site_env(
        db,
        DJANGO_SITE_ERRALERT=str(int(erralert)),
        DJANGO_SITE_QUERY_LOG=str(query_log),
        **env,
    )
    port = free_port()
    argv = [*SERVERS[server], *(["--port", str(port)] if server == "uvicorn" else [])]
    if server == "gunicorn":
        argv += ["-b", f"127.0.0.1:{port}"]
    with output.open("wb") as out:
        process = subprocess.Popen(argv, env=full_env, cwd=ROOT, stdout=out, stderr=out)
    try:
        wait_for_port(port, process=process)
        yield Site(process, f"http://127.0.0.1:{port}", db, query_log, output)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- 1. the same answers, the same queries -------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    status: int
    headers: tuple[tuple[str, str], ...]  # all but Date, in order (Set-Cookie included)
    queries: tuple[str, ...]
    session_kept: bool | None  # None: no session


def visit(s: Site) -> tuple[dict[tuple[str, str], Seen], list[str]]:
    """Each failing URL once per kind of visitor, each on a fresh session; then the
    database files the server process holds open."""
    seen: dict[tuple[str, str], Seen] = {}
    for who in ("anonymous", "logged-in", "stale"):
        for url in FAILING:
            with httpx.Client(base_url=s.base, timeout=10) as http:
                key = None
                if who != "anonymous":
                    assert http.get("/login/alice").status_code == 200
                    key = http.cookies["sessionid"]
                if who == "stale":  # changed elsewhere: the session's auth hash is stale
                    with sqlite3.connect(s.db) as db:
                        db.execute("UPDATE auth_user SET password = 'md5$new$x'")
                mark = s.query_mark()
                response = http.get(url)
            kept = None
            if key is not None:
                with sqlite3.connect(s.db) as db:
                    query = "SELECT count(*) FROM django_session WHERE session_key = ?"
                    kept = db.execute(query, (key,)).fetchone() == (1,)
            headers = tuple((k, v) for k, v in response.headers.multi_items() if k != "date")
            seen[who, url] = Seen(response.status_code, headers, tuple(s.queries_since(mark)), kept)
    open_files = httpx.get(f"{s.base}/open-db-files", timeout=10).json()["files"]
    return seen, open_files


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_a_500_is_the_same_with_and_without_erralert(
    server: str, migrated: Path, tmp_path: Path, receiver: Receiver
) -> None:
    with site(server, migrated, tmp_path, erralert=False) as plain:
        without, files_without = visit(plain)
    hook = f"webhook+{receiver.base}/hook"
    env = {"ERRALERT_WEBHOOKS": hook, "ERRALERT_WINDOW": "0.001"}
    with site(server, migrated, tmp_path, erralert=True, **env) as wrapped:
        with_erralert, files_with = visit(wrapped)
        alerts = receiver.wait_for(len(with_erralert), timeout=15)

    assert files_with == files_without == []  # no database file left open
    assert with_erralert == without
    for (who, url), seen in with_erralert.items():
        assert seen.status == 500
        if url not in READS_USER:  # nothing read the session: no query, no Vary, no logout
            assert seen.queries == ()
            assert "vary" not in dict(seen.headers)
            assert seen.session_kept is (None if who == "anonymous" else True)

    # reported: every request, with the user's id exactly when the view loaded the user
    users = {}
    for received in alerts:
        event = received.json["event"]
        users[event["request"]["path"], event["request"]["user"]] = True
    alice = "1"
    assert set(users) == {
        *((url, None) for url in FAILING if url not in READS_USER),
        *((url, None) for url in READS_USER),  # anonymous, and stale (Django logs it out)
        *((url, alice) for url in READS_USER),
    }


# -- 2. uvicorn told to stop -----------------------------------------------------------------------
def stop(s: Site) -> tuple[int, float]:
    """SIGTERM; the exit status and how long the process took to end."""
    started = time.monotonic()
    s.process.send_signal(signal.SIGTERM)
    status = s.process.wait(30)
    return status, time.monotonic() - started


@pytest.mark.timeout(60)
def test_uvicorn_sigterm_delivers_what_is_queued_first(
    migrated: Path, tmp_path: Path, receiver: Receiver
) -> None:
    hook = f"webhook+{receiver.base}/hook"
    env = {"ERRALERT_WEBHOOKS": hook, "ERRALERT_WINDOW": "300"}
    with site("uvicorn", migrated, tmp_path, erralert=True, **env) as s:
        with httpx.Client(base_url=s.base, timeout=10) as http:
            for _ in range(3):
                assert http.get("/fail").status_code == 500
        assert len(receiver.wait_for(1)) == 1  # the alert; the repeats wait in the window
        status, _ = stop(s)
    assert status == -signal.SIGTERM  # uvicorn's own way to end, unchanged
    kinds = [r.json["kind"] for r in receiver.requests]
    assert kinds == ["alert", "digest"]
    assert receiver.requests[1].json["occurrences"]["count"] == 2


@pytest.mark.timeout(60)
def test_uvicorn_sigterm_with_the_webhook_down(
    migrated: Path, tmp_path: Path, receiver: Receiver
) -> None:
    """The flush runs off the loop (a request during it is answered), ends by
    ``shutdown_timeout``, says what it lost, and uvicorn then stops as it would have."""
    receiver.default = Answer(status=503)
    with site("uvicorn", migrated, tmp_path, erralert=False) as plain:
        assert httpx.get(f"{plain.base}/fail", timeout=10).status_code == 500
        plain_status, plain_took = stop(plain)

    config = tmp_path / "erralert.toml"
    config.write_text("shutdown_timeout = 1.5\n")
    hook = f"webhook+{receiver.base}/hook"
    env = {"ERRALERT_WEBHOOKS": hook, "ERRALERT_CONFIG": str(config)}
    with site("uvicorn", migrated, tmp_path, erralert=True, **env) as s:
        with httpx.Client(base_url=s.base, timeout=10) as http:
            assert http.get("/fail").status_code == 500
            receiver.wait_for(1)  # refused: the alert waits for a retry
            started = time.monotonic()
            s.process.send_signal(signal.SIGTERM)
            during = http.get("/open-db-files")  # while the flush waits on the webhook
            answered = time.monotonic() - started
        status = s.process.wait(30)
        took = time.monotonic() - started
        output = s.output.read_text()
    assert during.status_code == 200
    assert answered < 1.0  # answered during the flush, not after it
    assert status == plain_status == -signal.SIGTERM
    assert 1.5 <= took <= plain_took + 1.5 + 0.5
    assert (
        "erralert: SIGTERM: messages still undelivered after 1.5 s; the server stops now, "
        "and they are lost if it ends the process without running exit hooks"
    ) in output
