"""`erralert check`: the channel table with masked secrets and pacing, and exit code 1
with a clear message for each kind of problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from erralert.cli import main

DINGTALK = (
    "https://oapi.dingtalk.com/robot/send?access_token=t0ken5ecret&secret=SECs1gn1ng&keyword=alert"
)
SLACK = "slack://T0AB1CD2E/B0FG3HI4J/abcDEF123ghiJKL456mnoPQR"


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_good_configuration_prints_the_channels_masked_with_their_pacing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = check(capsys, "--webhook", DINGTALK, "--webhook", SLACK)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["channel", "platform", "pacing", "template", "mentions"]
    dingtalk = next(line for line in lines if line.startswith("dingtalk:"))
    assert "https://oapi.dingtalk.com/robot/send?access_token=***" in dingtalk
    assert dingtalk.split()[1:4] == ["dingtalk", "20/60s", "dingtalk.j2"]
    slack = next(line for line in lines if line.startswith("slack:"))
    assert "hooks.slack.com/services/***/***/***" in slack
    assert slack.split()[1:3] == ["slack", "3/3s"]
    assert lines[-1] == "✓ 2 channel(s), configuration OK"
    for secret in ("t0ken5ecret", "SECs1gn1ng", "abcDEF123ghiJKL456mnoPQR"):
        assert secret not in out


def test_the_environment_is_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", f"{SLACK} {DINGTALK}")
    code, out = check(capsys)
    assert code == 0
    assert "✓ 2 channel(s), configuration OK" in out


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T0AB1CD2E/B0FG3HI4J", "webhook URL"),
        ("not a url at all", "not a URL"),
        ("http://[::1", "not a valid URL"),
        ("slak://T/B/X", "slak"),
        ("myplatform+https://chat.example.com/hook", "myplatform"),
    ],
    ids=["slack-url-missing-token", "not-a-url", "bad-host", "unknown-scheme", "unknown-platform"],
)
def test_a_malformed_url_or_unknown_platform_exits_1_naming_it(
    capsys: pytest.CaptureFixture[str], url: str, expected: str
) -> None:
    code, out = check(capsys, "--webhook", SLACK, "--webhook", url)
    assert code == 1
    problem = next(line for line in out.splitlines() if line.startswith("✗ "))
    assert expected in problem
    assert "slack" in out  # the good channel is still listed


def test_an_unknown_platform_says_which_platforms_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = check(capsys, "--webhook", "myplatform+https://chat.example.com/hook")
    assert code == 1
    assert "unknown platform 'myplatform'" in out
    assert "dingtalk" in out.split("unknown platform 'myplatform'")[1]


def test_a_template_that_does_not_compile_exits_1_with_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "slack.j2").write_text("{% extends '_base.j2' %}\n{% block body %}\n{{ x |}}\n")
    code, out = check(capsys, "--webhook", SLACK, "--template-dir", str(tmp_path))
    assert code == 1
    assert f"✗ template {tmp_path / 'slack.j2'}:3:" in out


def test_a_template_that_fails_on_real_data_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "slack.j2").write_text(
        "{% extends '_base.j2' %}\n{% block body %}\n{{ occurrences.count // 0 }}\n{% endblock %}\n"
    )
    code, out = check(capsys, "--webhook", SLACK, "--template-dir", str(tmp_path))
    assert code == 1
    assert "✗ slack:" in out
    assert 'custom template "slack.j2" failed: ZeroDivisionError' in out
    assert "line 3" in out


def test_a_missing_named_template_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys, "--webhook", f"{SLACK}?template=oncall")
    assert code == 1
    assert "template 'oncall' not found" in out


PLATFORM_NAMES = [
    "console", "dingtalk", "discord", "feishu", "googlechat", "lark", "mattermost",
    "rocketchat", "slack", "teams", "telegram", "webhook", "wecom",
]  # fmt: skip


def rendered_rows(out: str) -> dict[str, list[str]]:
    """The template table of a check without webhooks: platform -> its other columns."""
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.split()[:1] == ["platform"])) + 2
    rows = {}
    for line in lines[start:]:
        if not line.split() or line.split()[0] not in PLATFORM_NAMES:
            break
        platform, rest = line.split(maxsplit=1)
        rows[platform] = [cell.strip() for cell in rest.split("  ") if cell.strip()]
    return rows


def test_without_a_webhook_every_platforms_templates_are_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = check(capsys)
    assert code == 0, out
    assert out.splitlines()[0].startswith("no webhook configured (ERRALERT_WEBHOOKS, ")
    assert "checking the templates alone; an app would write its alerts to stderr" in out
    rows = rendered_rows(out)
    assert sorted(rows) == PLATFORM_NAMES
    assert rows["lark"] == ["feishu.j2", "alert, digest, storm"]  # Lark renders Feishu's
    assert all(cells[-1] == "alert, digest, storm" for cells in rows.values())
    assert (
        out.splitlines()[-1] == "✓ templates OK: alert, digest, storm rendered for 13 platform(s)"
    )


def test_without_a_webhook_the_template_dir_s_platforms_are_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "dingtalk.j2").write_text(
        '{% extends "default/dingtalk.j2" %}{% block body %}on call: {{ super() }}{% endblock %}'
    )
    (tmp_path / "oncall.j2").write_text('{% extends "default/slack.j2" %}')  # not a platform
    code, out = check(capsys, "--template-dir", str(tmp_path))
    assert code == 0, out
    assert rendered_rows(out) == {
        "dingtalk": ["dingtalk.j2 (template_dir)", "alert, digest, storm"]
    }
    assert out.splitlines()[-1] == "✓ templates OK: alert, digest, storm rendered for 1 platform(s)"


def test_without_a_webhook_a_template_failing_on_real_data_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "slack.j2").write_text(
        '{% extends "default/slack.j2" %}\n{% block body %}\n'
        "{% if kind == 'digest' %}{{ occurrences.count // 0 }}{% endif %}\n{% endblock %}\n"
    )
    code, out = check(capsys, "--template-dir", str(tmp_path))
    assert code == 1
    assert rendered_rows(out) == {"slack": ["slack.j2 (template_dir)", "✗ (below)"]}
    problems = [line for line in out.splitlines() if line.startswith("✗ ")]
    assert len(problems) == 1  # the digest only: the alert and the storm rendered
    assert problems[0].startswith('✗ slack: digest: custom template "slack.j2" failed: ')
    assert "ZeroDivisionError" in problems[0]
    assert "line 3" in problems[0]
    assert "templates OK" not in out


def test_without_a_webhook_a_template_dir_of_no_platform_checks_them_all(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "oncall.j2").write_text('{% extends "default/slack.j2" %}')
    code, out = check(capsys, "--template-dir", str(tmp_path))
    assert code == 0, out
    assert sorted(rendered_rows(out)) == PLATFORM_NAMES


def test_a_bad_environment_variable_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERRALERT_WEBHOOKS", SLACK)
    monkeypatch.setenv("ERRALERT_WINDOW", "five minutes")
    code, out = check(capsys)
    assert code == 1
    assert "ERRALERT_WINDOW: expected seconds, got 'five minutes'" in out


def test_every_problem_is_listed_not_only_the_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "slack.j2").write_text("{% if %}\n")
    code, out = check(
        capsys, "--webhook", "slak://x", "--webhook", "nope+https://x.example/h",
        "--template-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert len([line for line in out.splitlines() if line.startswith("✗ ")]) == 3


def test_with_a_shared_store_it_shows_who_posts_to_each_robot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two services, three processes of them on one SQLite file, all posting to one DingTalk
    robot: `check` says the robot's budget is shared, by whom (from the store)."""
    import erralert

    store = f"sqlite:///{tmp_path}/fleet.db"
    alerters = [
        erralert.Alerter(DINGTALK, service=service, store=store, release="r7")
        for service in ("checkout", "checkout", "billing")
    ]
    try:
        for alerter in alerters:  # a flush claims what is due, as a tick does: it checks in
            alerter.flush(1.0)
        monkeypatch.setenv("ERRALERT_STORE", store)
        code, out = check(capsys, "--webhook", DINGTALK, "--webhook", SLACK)
    finally:
        for alerter in alerters:
            alerter.close()
    assert code == 0, out
    lines = out.splitlines()
    head = lines.index("who posts to these robots (live processes, as the store knows them):")
    assert lines[head + 1].split() == ["channel", "services", "processes", "hosts"]
    assert set(lines[head + 2]) == {"─", " "}  # the table's rule
    row = lines[head + 3]
    assert row.startswith("dingtalk:https://oapi.dingtalk.com/robot/send?access_token=***")
    assert row.split()[-4:] == ["billing,", "checkout", "3", "1"]
    # nobody posts to the Slack robot through this store: no row for it
    assert not lines[head + 4].startswith("slack:")
