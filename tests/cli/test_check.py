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


def test_no_webhook_is_a_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(capsys)
    assert code == 1
    assert "no webhook configured" in out


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
