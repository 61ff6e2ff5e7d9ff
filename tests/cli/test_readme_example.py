"""The README's worked example of customising a template, run as written: export, keep one
file, the template from the README, preview, check."""

from __future__ import annotations

import json
import re
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
