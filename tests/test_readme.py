"""The README's one-line set-up per framework is the line the reference apps use."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "# erralert: the one line"


def one_lines() -> dict[str, str]:
    """Reference app file -> its marked line, without the marker."""
    found = {}
    for path in sorted((ROOT / "integrations").rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if MARK in line:
                found[str(path.relative_to(ROOT))] = line.split(MARK)[0].strip().rstrip(",")
    return found


def test_every_reference_app_marks_its_one_line() -> None:
    lines = one_lines()
    apps = {
        "integrations/fastapi_app.py",
        "integrations/flask_app.py",
        "integrations/litestar_app.py",
        "integrations/celery_app.py",
        "integrations/cron_script.py",
        "integrations/django_project/settings.py",
    }
    assert apps <= set(lines)


def test_the_readme_shows_each_one_line() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = {app: line for app, line in one_lines().items() if line not in readme}
    assert missing == {}
