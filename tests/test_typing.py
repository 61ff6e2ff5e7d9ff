"""The README's one lines type-check under `mypy --strict` in a user's project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_CODE = """
from fastapi import FastAPI
from starlette.applications import Starlette

import erralert

api = FastAPI()
api.add_middleware(erralert.ASGIMiddleware)
site = Starlette()
site.add_middleware(erralert.ASGIMiddleware, alerter=erralert.Alerter(["console://"]))
wrapped = erralert.ASGIMiddleware(site)
"""


def test_add_middleware_type_checks_strictly(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(USER_CODE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(app)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
