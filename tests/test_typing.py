"""The README's one lines type-check under `mypy --strict` in a user's project."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

# a user's project using every documented integration line, each verbatim (the README's
# `[...]` placeholders filled in) in the function of its framework. Django and Celery ship
# no type information: a user under --strict imports them with an ignore, as the example
# apps do
USER_CODE = """
import logging
from collections.abc import Callable
from typing import Any
from wsgiref.types import WSGIApplication

from celery import Celery  # type: ignore[import-untyped]
from fastapi import FastAPI
from flask import Flask
from litestar import Litestar, get
from starlette.applications import Starlette

import erralert
import erralert.integrations.celery
import erralert.integrations.flask
import erralert.integrations.starlette
from erralert.integrations.django import ErrAlertMiddleware as DjangoMiddleware
from erralert.integrations.litestar import ErrAlertPlugin
from erralert.integrations.starlette import ErrAlertMiddleware

MIDDLEWARE = [..., "erralert.integrations.django.ErrAlertMiddleware"]


def scripts() -> None:
    erralert.init(excepthooks=True)


def fastapi() -> FastAPI:
    app = FastAPI()
    app.add_middleware(erralert.ASGIMiddleware)
    return app


def starlette() -> list[Starlette]:
    app = Starlette()
    app.add_middleware(ErrAlertMiddleware, capture_http_5xx=True)
    site = Starlette()
    site.add_middleware(erralert.ASGIMiddleware, alerter=erralert.Alerter(["console://"]))
    raw = Starlette()
    raw.add_middleware(erralert.integrations.starlette.ErrAlertMiddleware, capture_http_5xx=True)
    return [app, site, raw]


def wrapped(app: Starlette) -> list[erralert.ASGIMiddleware]:
    return [
        erralert.ASGIMiddleware(app),
        erralert.ASGIMiddleware(app, webhooks=["console://"]),
        erralert.integrations.starlette.ErrAlertMiddleware(app, capture_http_5xx=True),
    ]


def flask() -> Flask:
    app = Flask(__name__)
    erralert.integrations.flask.init_app(app)
    return app


def django(get_response: Callable[[Any], Any]) -> DjangoMiddleware:
    return DjangoMiddleware(get_response)  # what Django does with the MIDDLEWARE string


@get("/")
async def index() -> str:
    return "ok"


def litestar() -> Litestar:
    app = Litestar(route_handlers=[index], plugins=[ErrAlertPlugin()])
    return app


def celery() -> erralert.integrations.celery.CeleryIntegration:
    app = Celery("shop")
    return erralert.integrations.celery.init_celery(app)


def wsgi(app: WSGIApplication) -> WSGIApplication:
    app = erralert.WSGIMiddleware(app)
    return app


def logs() -> None:
    logging.getLogger().addHandler(erralert.LoggingHandler())
"""


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
    """A documented line with its placeholders filled as USER_CODE fills them."""
    return line.replace("route_handlers=[...]", "route_handlers=[index]")


def test_every_documented_line_is_in_the_user_code() -> None:
    documented = _documented_lines()
    assert len(documented) >= 9  # the table's nine rows, and the Litestar import
    for line in documented:
        assert _filled(line) in USER_CODE, line


def test_the_django_middleware_string_names_the_middleware() -> None:
    pytest.importorskip("django")
    module, _, name = "erralert.integrations.django.ErrAlertMiddleware".rpartition(".")
    assert getattr(importlib.import_module(module), name).__name__ == name


def test_the_documented_lines_type_check_strictly(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(USER_CODE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(app)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
