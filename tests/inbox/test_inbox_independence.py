"""The inbox checks erralert's sending side, so it shares none of its code: every inbox
module imports nothing from erralert but the inbox itself and the safe logger (function-
level imports included); what it must agree on with the senders is written twice and
compared here. And ``import erralert`` never loads the tooling."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import erralert.inbox
from erralert.channels.base import KIND_HEADER as SENT_KIND_HEADER
from erralert.inbox.ratelimit import RateLimit, RollingWindow
from erralert.inbox.receive import KIND_HEADER

INBOX = Path(erralert.inbox.__file__).parent
ALLOWED_OUTSIDE = {"erralert._core.safelog"}


def _modules() -> list[Path]:
    return sorted(INBOX.rglob("*.py"))


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, anywhere in it (line, absolute name)."""
    package = ".".join(path.relative_to(INBOX.parent.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield node.lineno, base
            # `from erralert import inbox` names a module in its alias
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def test_the_walk_finds_function_level_imports() -> None:
    source = "def f():\n    from erralert.channels import base\n"
    found = [
        node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
    ]
    assert found == ["erralert.channels"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(INBOX)))
def test_an_inbox_module_imports_nothing_of_the_sending_side(path: Path) -> None:
    outside = [
        f"line {line}: {name}"
        for line, name in _imported(path)
        if (name == "erralert" or name.startswith("erralert."))
        and not name.startswith("erralert.inbox")
        # `from erralert._core.safelog import safe_logger` yields the name imported too
        and not any(name == ok or name.startswith(f"{ok}.") for ok in ALLOWED_OUTSIDE)
    ]
    assert not outside, outside


def test_the_inbox_reads_the_kind_header_the_channels_write() -> None:
    assert SENT_KIND_HEADER.lower() == KIND_HEADER


def test_import_erralert_loads_no_tooling() -> None:
    program = "import sys, erralert; print(sorted(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(ast.literal_eval(done.stdout))
    tooling = {"erralert.inbox", "erralert.cli", "uvicorn"}
    assert not loaded & tooling, loaded & tooling


def test_the_served_page_is_its_assets_filled_in(client: TestClient) -> None:
    page = client.get("/").text
    assets = files("erralert.inbox") / "assets"
    style = (assets / "page.css").read_text(encoding="utf-8")
    script = (assets / "page.js").read_text(encoding="utf-8")
    assert f"<style>\n{style}</style>" in page
    before, _, after = script.partition("$labels")
    assert before in page
    assert after.partition("$counts")[2] in page
    assert page.startswith("<!doctype html>")
    assert "$" not in page  # every slot filled (the page itself has no dollar sign)


def test_a_rolling_window_counts_every_limit() -> None:
    window = RollingWindow((RateLimit(2, 1.0), RateLimit(3, 60.0)))
    assert window.take(0.0) == 0.0
    assert window.take(0.5) == 0.0
    assert window.take(0.9) == pytest.approx(0.1)  # the first stops counting at 1.0
    assert window.take(1.0) == 0.0
    assert window.take(2.0) == pytest.approx(58.0)  # three in any minute
    assert window.take(60.0) == 0.0


def test_a_message_stamped_before_the_last_is_judged_in_its_turn() -> None:
    # two threads read the clock apart: the second-stamped came first
    window = RollingWindow((RateLimit(60, 60.0),))
    assert window.take(10.0) == 0.0
    assert window.take(9.999) == 0.0
