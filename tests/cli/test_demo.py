"""`erralert demo --once`, the README's main job, run as users run it: the console script in
a process of its own, a real inbox and a real demo app under uvicorn on 127.0.0.1."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PLATFORMS = ("dingtalk", "discord", "feishu", "googlechat", "lark", "mattermost",
             "rocketchat", "slack", "teams", "telegram", "webhook", "wecom")  # fmt: skip


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
    assert re.search(r"the local chat inbox: http://127\.0\.0\.1:\d+/", out)
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
    summary = out.splitlines()[-1]
    assert re.fullmatch(
        r"55 failing requests → \d+ alerts, \d+ digests, \d+ storm summaries in [\d.]+ s", summary
    ), summary
    assert db.exists()  # kept where --db said, for `erralert inbox --db` to show later
