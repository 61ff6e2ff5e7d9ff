"""The code style the project promises: ruff and mypy --strict are part of the suite."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ["erralert", "tests", "benchmarks", "integrations"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_tools_are_the_pinned_versions() -> None:
    # the verdicts below are those of the versions constraints.txt pins: another ruff or
    # mypy can disagree with no change to the code (the README's test command installs
    # with `-c constraints.txt`)
    pins = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "constraints.txt").read_text(), re.M)
    )
    assert {"ruff", "mypy"} <= set(pins)
    installed = {name: importlib.metadata.version(name) for name in pins}
    assert installed == pins, "pip install -e '.[dev]' -c constraints.txt installs these"


def test_ci_runs_the_readme_test_command_on_the_pythons_the_readme_names() -> None:
    readme = (ROOT / "README.md").read_text()
    command = next(line for line in readme.splitlines() if line.endswith("python -m pytest"))
    install = command.split(" && ")[2]
    assert install == "pip install -e '.[dev]' -c constraints.txt"
    ci = (ROOT / ".ci" / "run").read_text()
    assert install.replace("pip install", "python -m pip install --quiet") in ci
    assert "-c constraints.txt && python -m pytest" in ci
    assert "TESTED_PYTHONS=(3.11 3.13)" in ci
    assert "runs exactly the second command on Python 3.11 (in `.venv`) and on 3.13" in " ".join(
        readme.split()
    )


def test_ruff_check() -> None:
    result = run("ruff", "check", *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run("ruff", "format", "--check", *PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run("mypy", "--strict", "erralert")
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_names_are_exactly_the_design() -> None:
    import erralert

    assert erralert.__all__ == sorted(erralert.__all__)
    assert set(erralert.__all__) == {
        "ASGIMiddleware",
        "Alerter",
        "ConfigError",
        "LoggingHandler",
        "WSGIMiddleware",
        "__version__",
        "capture_exception",
        "capture_message",
        "close",
        "flush",
        "get_alerter",
        "init",
        "testing",
    }
