"""The README's worked example of customising a template, run as written: export, keep one
file, the template from the README, preview, check (with no webhook: the templates alone);
and the `erralert check` example of *The erralert command*, its output as shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from freezegun import freeze_time

from erralert.cli import main

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def readme_template() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"```jinja\n(\{# 2\. alert-templates/dingtalk\.j2.*?)```", text, re.S)
    assert found, "the worked example's template is no longer in the README"
    return found.group(1)


def readme_commands(step: str, stop: str = "") -> list[str]:
    """The shell lines of the worked example's block that starts with ``# {step}``, up to
    the comment of step ``stop``."""
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"```bash\n(# {step}.*?)```", text, re.S)
    assert found, f"step {step} of the worked example is no longer in the README"
    lines: list[str] = []
    for line in found.group(1).splitlines():
        if stop and line.startswith(f"# {stop}"):
            break
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in bash, as a user types it: the erralert of this environment on the
    PATH, no ERRALERT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


@pytest.mark.e2e
def test_the_worked_example_s_commands_run_as_written(tmp_path: Path) -> None:
    for command in readme_commands("1."):  # export, keep dingtalk.j2
        done = shell(command, tmp_path)
        assert done.returncode == 0, command + done.stderr
    folder = tmp_path / "alert-templates"
    assert [p.name for p in folder.rglob("*") if p.is_file()] == ["dingtalk.j2"]
    (folder / "dingtalk.j2").write_text(readme_template(), encoding="utf-8")
    commands = readme_commands("3.", stop="5.")  # preview twice, check with no webhook
    assert [c.split()[1] for c in commands] == ["preview", "preview", "check"]
    outputs = []
    for command in commands:
        done = shell(command, tmp_path)
        assert done.returncode == 0, command + done.stdout + done.stderr
        outputs.append(done.stdout)
    assert "\n**order 1042** · POST /api/orders/1042/pay\n" in outputs[0]  # the alert
    assert "**order" not in outputs[1]  # the digest
    check = outputs[2].splitlines()
    assert check[0].startswith("no webhook configured")
    assert check[3].split() == ["dingtalk", "dingtalk.j2", "(template_dir)", "alert,", "digest,",
                                "storm"]  # fmt: skip
    assert check[-1] == "✓ templates OK: alert, digest, storm rendered for 1 platform(s)"


def test_the_check_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("## The `erralert` command", 1)[1]
    found = re.search(r"```console\n\$ (.*?)\n(.*?)```", section, re.S)
    assert found, "the erralert check example is no longer in the README"
    command, shown = found.groups()
    assert command.endswith(" erralert check")
    done = shell(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown


def test_the_worked_example_works_as_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "alert-templates"
    assert main(["templates", "export", str(folder)]) == 0
    for path in folder.rglob("*.j2"):  # the README's find … -delete
        if path != folder / "dingtalk.j2":
            path.unlink()
    (folder / "dingtalk.j2").write_text(readme_template(), encoding="utf-8")
    capsys.readouterr()

    with freeze_time("2026-11-26 18:20:01"):
        assert (
            main(["preview", "--platform", "dingtalk", "--template-dir", str(folder), "--json"])
            == 0
        )
        alert = json.loads(capsys.readouterr().out)
        assert main(["preview", "--platform", "dingtalk", "--kind", "digest", "--json",
                     "--template-dir", str(folder)]) == 0  # fmt: skip
        digest = json.loads(capsys.readouterr().out)
    body = alert["request"]["json"]["markdown"]["text"]
    # the order id first, then erralert's own body (super())
    assert body.startswith(
        "**order 1042** · POST /api/orders/1042/pay\n\n"
        "### 🔴 [checkout·prod·1.4.3] PaymentDeclined: card declined for order 1042: "
        "insufficient_funds\n"
    )
    assert "**Stack**, the app's frames first" in body
    assert "**order" not in digest["body"]  # alerts only
    assert main(["check", "--template-dir", str(folder), "--webhook", "dingtalk://t0k"]) == 0
    out = capsys.readouterr().out
    assert "dingtalk.j2 (template_dir)" in out
    assert "✓ 1 channel(s), configuration OK" in out
    assert main(["check", "--template-dir", str(folder)]) == 0  # step 4: no webhook needed
    out = capsys.readouterr().out
    assert "dingtalk  dingtalk.j2 (template_dir)  alert, digest, storm" in out
