"""The command itself: help for every command, the console script, `templates export`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from freezegun import freeze_time

from erralert._render.renderer import default_template_dir
from erralert.cli import main

COMMANDS = [["demo"], ["inbox"], ["preview"], ["check"], ["send-test"], ["templates"],
            ["templates", "export"]]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: erralert {' '.join(command)}")
    assert len(out.splitlines()) > 4  # a description and the options, not just usage


def test_no_command_prints_the_overview(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("demo", "inbox", "preview", "check", "send-test", "templates"):
        assert f"    {command}" in out


@pytest.mark.e2e
def test_the_console_script_and_python_m_run_the_command() -> None:
    script = Path(sys.executable).with_name("erralert")
    for argv in ([str(script), "--version"], [sys.executable, "-m", "erralert", "--version"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("erralert ")


def test_templates_export_copies_every_default_template(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "my-templates"
    assert main(["templates", "export", str(target)]) == 0
    defaults = default_template_dir()
    expected = sorted(p.relative_to(defaults) for p in defaults.rglob("*.j2"))
    assert sorted(p.relative_to(target) for p in target.rglob("*.j2")) == expected
    assert Path("slack.j2") in expected
    assert Path("_base.j2") in expected
    for relative in expected:
        assert (target / relative).read_bytes() == (defaults / relative).read_bytes()
    out = capsys.readouterr().out
    assert f"copied {len(expected)} templates to {target}/" in out
    assert f"erralert preview --platform slack --template-dir {target}" in out


def test_templates_export_keeps_edited_files_unless_forced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "slack.j2").write_text("mine\n")
    with pytest.raises(SystemExit) as exited:
        main(["templates", "export", str(tmp_path)])
    assert exited.value.code == 1
    assert "already has slack.j2" in capsys.readouterr().err
    assert (tmp_path / "slack.j2").read_text() == "mine\n"
    assert main(["templates", "export", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "slack.j2").read_bytes() == (
        default_template_dir() / "slack.j2"
    ).read_bytes()


def test_an_exported_set_renders_like_the_defaults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    main(["templates", "export", str(tmp_path)])
    capsys.readouterr()
    with freeze_time("2026-11-26 18:20:01"):
        main(["preview", "--platform", "feishu", "--json"])
        default = capsys.readouterr().out
        main(["preview", "--platform", "feishu", "--json", "--template-dir", str(tmp_path)])
        exported = capsys.readouterr().out
    assert default.split('"body"')[1] == exported.split('"body"')[1]
