"""The README's one lines type-check under `mypy --strict` in a user's project: the files
of tests/type_check/ are that project (`.ci/run`'s lint step runs `mypy --strict
tests/type_check`). What mypy cannot tell is checked here: that every documented line is in
those files, verbatim, and that the Django settings string names the middleware."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
USER_CODE = ROOT / "tests" / "type_check"


def _documented_lines() -> list[str]:
    """The code of the README's "One line per framework" table: every backticked piece of
    its second column that is code (a call, an assignment, an import)."""
    section = README.read_text(encoding="utf-8").split("## One line per framework", 1)[1]
    lines: list[str] = []
    for row in section.strip().split("\n\n", 1)[0].splitlines():
        cells = row.split(" | ")
        if len(cells) < 3 or cells[0].startswith("|---"):
            continue
        lines += [
            code
            for code in re.findall(r"`([^`]+)`", cells[1])
            if re.search(r"[(=]|^(from|import) ", code)
        ]
    return lines


def _filled(line: str) -> str:
    """A documented line with its placeholders filled as the user code fills them."""
    return line.replace("route_handlers=[...]", "route_handlers=[index]")


def test_every_documented_line_is_in_the_type_checked_user_code() -> None:
    user_code = "\n".join(
        path.read_text(encoding="utf-8") for path in sorted(USER_CODE.glob("*.py"))
    )
    documented = _documented_lines()
    assert len(documented) >= 9  # the table's nine rows, and the Litestar import
    for line in documented:
        assert _filled(line) in user_code, line


def test_the_django_middleware_string_names_the_middleware() -> None:
    pytest.importorskip("django")
    module, _, name = "erralert.integrations.django.ErrAlertMiddleware".rpartition(".")
    assert getattr(importlib.import_module(module), name).__name__ == name
