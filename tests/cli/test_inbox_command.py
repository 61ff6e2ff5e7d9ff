"""`erralert inbox` as users start it: a process of its own on 127.0.0.1, the URLs to
configure printed, messages kept across a restart, Ctrl-C ends it cleanly; another
address only with a token, which every request then needs."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import erralert

pytestmark = pytest.mark.e2e

SCRIPT = str(Path(sys.executable).with_name("erralert"))


@contextmanager
def inbox_process(*argv: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    process = subprocess.Popen(
        [SCRIPT, "inbox", "--port", "0", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        while not any(line.startswith("  webhook+") for line in lines):
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "no output"
            lines.append(line.rstrip("\n"))
        yield process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(20)


def test_the_inbox_command_prints_the_urls_and_keeps_messages(tmp_path: Path) -> None:
    db = tmp_path / "inbox.sqlite3"
    with inbox_process("--db", str(db), "--secret", "dingtalk=SECsecret") as (process, lines):
        url = lines[0].removeprefix("erralert inbox: ").rstrip("/")
        assert url.startswith("http://127.0.0.1:")
        assert f"messages are kept in {db}" in lines[1]
        urls = {line.split("+", 1)[0].strip(): line.strip() for line in lines[2:]}
        assert urls["slack"] == f"slack+{url}/services/T000/B000/XXXX"
        assert urls["dingtalk"] == (
            f"dingtalk+{url}/robot/send?access_token=token&secret=SECsecret"
        )
        assert len(urls) == 12
        # the printed URLs work as they are: a real alerter's alert is accepted and kept
        with erralert.Alerter([urls["dingtalk"], urls["slack"]], window=60) as alerter:
            alerter.capture_message("disk full on db-1")
            assert alerter.flush(10)
            assert alerter.outbox.delivered == 2
        listed = httpx.get(f"{url}/api/messages").json()
        assert {m["platform"] for m in listed["messages"]} == {"dingtalk", "slack"}
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    # a restart on the same file shows them again
    with inbox_process("--db", str(db)) as (_, lines):
        url = lines[0].removeprefix("erralert inbox: ").rstrip("/")
        assert len(httpx.get(f"{url}/api/messages").json()["messages"]) == 2


def test_another_address_needs_a_token(tmp_path: Path) -> None:
    done = subprocess.run(
        [SCRIPT, "inbox", "--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "x.db")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "pass --token" in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_with_a_token_every_request_needs_it(tmp_path: Path) -> None:
    db = str(tmp_path / "inbox.db")
    with inbox_process("--host", "0.0.0.0", "--token", "s3cret-t0ken", "--db", db) as (_, lines):
        url = lines[0].removeprefix("erralert inbox: ").split("?")[0].rstrip("/")
        assert lines[0].endswith("/?inbox_token=s3cret-t0ken")
        slack = next(line.strip() for line in lines if line.strip().startswith("slack+"))
        assert slack.endswith("/services/T000/B000/XXXX?inbox_token=s3cret-t0ken")
        for method, path in (("GET", "/"), ("GET", "/api/messages"), ("POST", "/services/T/B/X")):
            assert httpx.request(method, url + path, json={"text": "x"}).status_code == 401
        assert httpx.get(f"{url}/api/messages?inbox_token=s3cret-t0ken").status_code == 200
        headers = {"Authorization": "Bearer s3cret-t0ken"}
        assert httpx.get(f"{url}/", headers=headers).status_code == 200
        with erralert.Alerter([slack.replace("0.0.0.0", "127.0.0.1")], window=60) as alerter:
            alerter.capture_message("with the token in its URL")
            assert alerter.flush(10)
            assert alerter.outbox.delivered == 1


@pytest.mark.parametrize("bad", ["slack=abc", "dingtalk", "dingtalk="])
def test_a_bad_secret_flag_is_a_usage_error(bad: str) -> None:
    done = subprocess.run(
        [SCRIPT, "inbox", "--port", "0", "--secret", bad],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "expected dingtalk=…" in done.stderr
