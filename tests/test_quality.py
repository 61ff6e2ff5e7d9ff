"""The shape the project promises, checked by the suite: modules of a readable size, CI
running the README's commands, the public names, the version in one place. ruff and
`mypy --strict` are not run here: `.ci/run` runs them in a step of their own, at the
versions constraints.txt pins."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600


def test_no_module_is_over_600_lines() -> None:
    # small modules, one concern each: a module past this is two concerns or more
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((ROOT / "erralert").rglob("*.py"))
    }
    assert sizes, "no module found under erralert/"
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_long, f"over {MAX_MODULE_LINES} lines: {too_long}"


def test_ci_runs_the_readme_test_commands_on_the_pythons_the_readme_names() -> None:
    readme = (ROOT / "README.md").read_text()
    command = next(
        line for line in readme.splitlines() if line.endswith("python -m pytest -n auto")
    )
    install = command.split(" && ")[2]
    assert install == "pip install -e '.[dev]' -c constraints.txt"
    ci = (ROOT / ".ci" / "run").read_text()
    assert install.replace("pip install", "python -m pip install --quiet") in ci
    assert "-c constraints.txt && python -m pytest -n auto" in ci
    assert "TESTED_PYTHONS=(3.11 3.13)" in ci
    flat = " ".join(readme.split())  # the README's lines wrapped anywhere
    assert "runs exactly the second command on Python 3.11 (in `.venv`) and on 3.13" in flat
    # the lint step: every tool the README says it runs
    for tool in (
        "ruff check",
        "ruff format --check",
        "mypy --strict erralert",
        "mypy --strict tests/type_check",
    ):
        assert tool in ci, tool
        assert f"`{tool}`" in flat, tool


def test_the_fast_tier_leaves_out_every_marker_of_a_slower_one() -> None:
    readme = (ROOT / "README.md").read_text()
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    markers = {line.split(":", 1)[0] for line in options["ini_options"]["markers"]}
    assert markers == {"slow", "e2e", "browser"}
    assert 'python -m pytest -n auto -m "not slow and not e2e and not browser"' in readme
    # .ci/run times it on its own
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pytest -n auto -q -m "not slow and not e2e and not browser"' in ci


def test_the_version_is_written_once() -> None:
    import erralert
    from erralert.channels.payloads import USER_AGENT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "erralert/__init__.py"
    # read from the installed metadata, which an install takes from __version__: after a
    # change of the version, `pip install -e .` again
    assert f"erralert/{erralert.__version__}" == USER_AGENT
    assert f"## {erralert.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_public_names_are_exactly_the_design() -> None:
    import erralert

    assert erralert.__all__ == sorted(erralert.__all__)
    assert set(erralert.__all__) == {
        "ASGIMiddleware",
        "Alerter",
        "ChannelStats",
        "ConfigError",
        "LoggingHandler",
        "Stats",
        "WSGIMiddleware",
        "__version__",
        "capture_exception",
        "capture_message",
        "close",
        "flush",
        "get_alerter",
        "init",
        "prometheus_text",
        "testing",
    }
