"""The code style the project promises: ruff and mypy --strict are part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ["erralert", "tests", "benchmarks", "integrations"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
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
