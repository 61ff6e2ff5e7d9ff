"""The README's one-line set-up per framework is the line the reference apps use."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


# -- each row of "One line per framework", run as written in a fresh interpreter ------------

# per app: what the user's own code has before erralert's import and line (the framework's
# app, a failing endpoint) and after (one failing request, or task, or record, captured)
_CAPTURED = """
from erralert.testing import capture_alerts
with capture_alerts() as alerts:
    {provoke}
assert [a.kind for a in alerts] == ["alert"], alerts
assert "card declined" in alerts[0].title, alerts[0].title
print("alerted")
"""
ROWS: dict[str, tuple[str, str]] = {
    "FastAPI": (
        """
from fastapi import FastAPI
from fastapi.testclient import TestClient
app = FastAPI()
@app.post("/pay")
def pay() -> None:
    raise ValueError("card declined")
""",
        'assert TestClient(app, raise_server_exceptions=False).post("/pay").status_code == 500',
    ),
    "Flask": (
        """
from flask import Flask
app = Flask("shop")
@app.post("/pay")
def pay() -> str:
    raise ValueError("card declined")
""",
        'assert app.test_client().post("/pay").status_code == 500',
    ),
    "Django": (
        """
import django
from django.conf import settings
from django.urls import path
def pay(request):
    raise ValueError("card declined")
urlpatterns = [path("pay", pay)]
""",
        # `...` stands for the project's other middleware
        """settings.configure(ROOT_URLCONF=__name__, MIDDLEWARE=MIDDLEWARE[1:],
                       ALLOWED_HOSTS=["testserver"], DEBUG=False)
    django.setup()
    from django.test import Client
    assert Client(raise_request_exception=False).post("/pay").status_code == 500""",
    ),
    "Litestar": (
        """
from litestar import Litestar, post
from litestar.testing import TestClient
@post("/pay")
async def pay() -> None:
    raise ValueError("card declined")
""",
        'assert TestClient(app).post("/pay").status_code == 500',
    ),
    "Celery": (
        """
from celery import Celery
app = Celery("shop")
app.conf.task_always_eager = True
@app.task
def charge() -> None:
    raise ValueError("card declined")
""",
        "assert charge.apply().failed()",
    ),
    "scripts": (
        """
import threading
def job() -> None:
    raise ValueError("card declined")
""",
        "thread = threading.Thread(target=job); thread.start(); thread.join()",
    ),
    "any plain WSGI app": (
        """
from wsgiref.util import setup_testing_defaults
def app(environ, start_response):
    raise ValueError("card declined")
environ: dict = {}
setup_testing_defaults(environ)
""",
        """try:
        app(environ, lambda status, headers: None)
    except ValueError:
        pass""",
    ),
    "`logging`": (
        """
import logging
""",
        'logging.getLogger("shop.payments").error("card declined for order %s", 1042)',
    ),
}


def framework_rows() -> dict[str, list[str]]:
    """App (the first words of its cell) -> the code of its second cell: the import, then
    the line, as written."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## One line per framework")[1]
    rows = {}
    for row in section.strip().split("\n\n", 1)[0].splitlines()[2:]:
        cells = row.strip("|").split(" | ")
        app = next(name for name in ROWS if cells[0].strip().startswith(name))
        rows[app] = re.findall(r"`([^`]+)`", cells[1])
    return rows


def test_the_table_has_a_row_per_app_each_with_its_import() -> None:
    rows = framework_rows()
    assert set(rows) == set(ROWS)
    for app, code in rows.items():
        imports = [c for c in code if c.startswith(("import ", "from "))]
        # Django imports the middleware from its dotted name in the settings
        assert len(imports) == (0 if app == "Django" else 1), (app, code)
        assert code[: len(imports)] == imports  # the import first, then the line


@pytest.mark.parametrize("app", list(ROWS))
@pytest.mark.e2e
def test_each_row_works_after_its_own_import_alone(app: str) -> None:
    before, provoke = ROWS[app]
    code = framework_rows()[app]
    # the placeholder of the Litestar line: the app's route handlers
    written = "\n".join(
        line.replace("route_handlers=[...]", "route_handlers=[pay]") for line in code
    )
    program = before + written + "\n" + _CAPTURED.format(provoke=provoke)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRALERT_")}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, program + "\n" + done.stderr
    assert done.stdout.splitlines()[-1] == "alerted"


@pytest.mark.e2e
def test_import_erralert_loads_no_framework() -> None:
    frameworks = ("fastapi", "flask", "django", "litestar", "celery", "uvicorn", "redis")
    done = subprocess.run(
        [sys.executable, "-c", "import sys, erralert; print(sorted(set(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = {name.split(".")[0] for name in ast.literal_eval(done.stdout)}
    assert loaded.isdisjoint(frameworks), loaded & set(frameworks)
