"""`erralert demo --once`, the README's main job, run as users run it: the console script in
a process of its own, a real inbox and a real demo app under uvicorn on 127.0.0.1. The
inbox ends with it, and the demo says so and where the messages are kept; without uvicorn
(the demo extra) the demo and the inbox say in one line what to install."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from erralert.cli import main
from tests.cli.test_inbox_command import inbox_process

PLATFORMS = ("dingtalk", "discord", "feishu", "googlechat", "lark", "mattermost",
             "rocketchat", "slack", "teams", "telegram", "webhook", "wecom")  # fmt: skip


@pytest.mark.e2e
def test_demo_once_delivers_alerts_a_digest_and_storm_summaries(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("erralert")
    db = tmp_path / "inbox.sqlite3"
    done = subprocess.run(
        [str(script), "demo", "--once", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"the local chat inbox \(until the demo ends\): http://127\.0\.0\.1:\d+/", out)
    rows = {
        line.split()[0]: [int(n) for n in line.split()[1:]]
        for line in out.splitlines()
        if line.split() and line.split()[0] in (*PLATFORMS, "all") and len(line.split()) == 5
    }
    assert set(rows) == {*PLATFORMS, "all"}
    for platform in PLATFORMS:
        messages, alerts, digests, storms = rows[platform]
        assert messages == alerts + digests + storms
        assert alerts >= 1, platform
        # the burst's digest arrives, or folds into a storm summary where the platform's
        # rate limit leaves no slot for it within max_delay (Mattermost: 10 per 10 s)
        assert digests + storms >= 1, platform
    total = rows["all"]
    assert total[0] == sum(row[0] for name, row in rows.items() if name != "all")
    assert total[2] >= 1
    assert total[3] >= 1  # at least one platform's rate limit folded a storm
    # slack takes about one message a second: the storm cannot all be single alerts there.
    # The summary's follow-ups (the full alerts of its new errors) take the next seconds of
    # the budget, so the digest may fold into a second summary.
    assert 1 <= rows["slack"][3] <= 2
    # the webhook platform has no pacing: every error is its own alert, no storm
    assert rows["webhook"] == [3 + 12 + 1, 3 + 12, 1, 0]
    assert "refused" not in done.stderr
    summary, blank, note = out.splitlines()[-3:]
    assert re.fullmatch(
        r"55 failing requests → \d+ alerts, \d+ digests, \d+ storm summaries in [\d.]+ s", summary
    ), summary
    # the address printed first no longer answers: the demo says so, and how to see them
    command = f"erralert inbox --db {shlex.quote(str(db))}"
    assert (blank, note) == (
        "",
        f"The inbox stopped with the demo; its messages are kept in {db}: {command} shows them.",
    )
    # the command it names shows every message again (on a free port: 8025 may be taken)
    with inbox_process(*shlex.split(command)[2:]) as (_, lines):
        url = lines[0].removeprefix("erralert inbox: ").rstrip("/")
        listed = httpx.get(f"{url}/api/messages").json()
    assert listed["total"] == total[0]
    assert listed["counts"] == {name: row[0] for name, row in rows.items() if name != "all"}


@pytest.mark.e2e
def test_demo_once_without_db_says_its_messages_went_with_the_inbox(tmp_path: Path) -> None:
    """Where the note differs: no --db, the messages were in a scratch file, now gone."""
    script = Path(sys.executable).with_name("erralert")
    done = subprocess.run(
        [str(script), "demo", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == (
        "The inbox stopped with the demo, and its messages with it: erralert demo keeps it "
        "open; erralert demo --once --db FILE keeps the messages for erralert inbox --db FILE."
    )
    assert list(tmp_path.iterdir()) == []  # nothing left behind


@pytest.mark.parametrize("command", ["demo", "inbox"])
def test_without_uvicorn_one_line_says_what_to_install(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` fails, as uninstalled
    with pytest.raises(SystemExit) as exited:
        main([command, "--once"] if command == "demo" else [command])
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"erralert: erralert {command} needs uvicorn (erralert's demo extra): pip install "
        "uvicorn, or pip install -e '.[demo]' in erralert's checkout\n"
    )
