"""The import contract: erralert's layers import downwards only, and nothing imports in a cycle.

See tests/layers.py for the layers and README.md ("How it works") for the picture.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import erralert
from tests.layers import LAYERS, modules, violations

PACKAGE_DIR = Path(erralert.__file__).parent


def test_erralert_imports_downwards_only_and_without_cycles() -> None:
    found = modules(PACKAGE_DIR, "erralert")
    assert len(found) > 50  # the walk found the package, not an empty folder
    assert [str(v) for v in violations(found, "erralert")] == []


def test_every_layer_names_a_package_that_exists() -> None:
    found = modules(PACKAGE_DIR, "erralert")
    for row in LAYERS:
        for package in row:
            assert package in found, package


def write_package(root: Path, files: dict[str, str]) -> Path:
    """A throwaway package ``erralert`` under ``root`` with the given modules."""
    package = root / "erralert"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    for folder in [package, *[p for p in package.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return package


def check(root: Path, files: dict[str, str]) -> list[str]:
    package = write_package(root, files)
    return [str(v) for v in violations(modules(package, "erralert"), "erralert")]


def test_an_upward_import_inside_a_function_is_refused(tmp_path: Path) -> None:
    # the shape of the old outbox -> capture reach and of the old default <-> excepthook cycle:
    # a primitive that imports the alerter late, inside a function
    found = check(
        tmp_path,
        {
            "_core/event.py": """
                def build():
                    from erralert._alerter import Alerter
                    return Alerter
            """,
            "_alerter.py": "from erralert._core.event import build\n",
        },
    )
    assert found == [
        "erralert._core.event:3 imports erralert._alerter:"
        " upward: erralert._alerter is above erralert._core",
        "erralert._alerter:0 imports erralert._core.event:"
        " cycle: erralert._alerter -> erralert._core.event -> erralert._alerter",
    ]


def test_an_import_between_sibling_stages_is_refused(tmp_path: Path) -> None:
    found = check(
        tmp_path,
        {
            "_delivery/outbox.py": "from erralert._capture.events import safe_repr\n",
            "_capture/events.py": "def safe_repr(value): return repr(value)\n",
        },
    )
    assert found == [
        "erralert._delivery.outbox:1 imports erralert._capture.events:"
        " sideways: erralert._delivery and erralert._capture are siblings"
    ]


def test_type_checking_and_relative_imports_count(tmp_path: Path) -> None:
    found = check(
        tmp_path,
        {
            "_stores/base.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from .._grouping.throttle import Window
            """,
            "_grouping/throttle.py": "class Window: ...\n",
        },
    )
    assert found == [
        "erralert._stores.base:4 imports erralert._grouping.throttle:"
        " upward: erralert._grouping is above erralert._stores"
    ]


def test_the_inbox_imports_nothing_of_the_sending_side(tmp_path: Path) -> None:
    # a downward import, allowed by the layers, but the inbox would then check channels'
    # payloads with the channels' own code
    found = check(
        tmp_path,
        {
            "inbox/platforms/slack.py": """
                from erralert._core.safelog import safe_logger
                def limit():
                    from erralert.channels.base import KIND_HEADER
            """,
            "_core/safelog.py": "def safe_logger(): ...\n",
            "channels/base.py": "KIND_HEADER = 'X-Erralert-Kind'\n",
        },
    )
    assert found == [
        "erralert.inbox.platforms.slack:4 imports erralert.channels.base:"
        " erralert.inbox imports only erralert._core.safelog, erralert._core.exposition"
    ]


def test_a_module_outside_every_layer_is_named(tmp_path: Path) -> None:
    found = check(tmp_path, {"stray.py": "X = 1\n"})
    assert found == ["erralert.stray:0 imports erralert.stray: the module is in no layer"]


def test_downward_imports_pass(tmp_path: Path) -> None:
    found = check(
        tmp_path,
        {
            "cli/__init__.py": "from erralert._alerter import Alerter\n",
            "_alerter.py": "from erralert._render.renderer import Renderer\nclass Alerter: ...\n",
            "_render/renderer.py": "from erralert.channels.slack import Slack\n",
            "channels/slack.py": "from erralert._core.event import Event\nclass Slack: ...\n",
            "_core/event.py": "class Event: ...\n",
        },
    )
    assert found == []


TOOLING = ("erralert.inbox", "erralert.cli", "uvicorn")
ENTRY_POINTS = ("asgi", "wsgi", "logging", "excepthook")


@pytest.mark.parametrize(
    ("module", "not_loaded"),
    [
        # nor Starlette, unless the app is on Starlette: a Flask or Django app loads none of it
        *[(module, (*TOOLING, "starlette")) for module in ("erralert", "erralert.testing")],
        *[(f"erralert.integrations.{m}", (*TOOLING, "starlette")) for m in ENTRY_POINTS],
        ("erralert.integrations.starlette", TOOLING),
    ],
)
def test_the_library_never_imports_the_tooling(module: str, not_loaded: tuple[str, ...]) -> None:
    # the inbox, the CLI and uvicorn are developer tooling: an app that imports erralert (or
    # any of its framework entry points) must not pay for them; a fresh interpreter tells
    code = (
        f"import {module}, sys; "
        f"print(sorted(m for m in sys.modules if m.startswith({not_loaded!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"
