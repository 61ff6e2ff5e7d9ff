"""The README's *Installing* commands, run as written against a copy of this checkout:
``pip install '/path/to/erralert[flask]'`` and a wheel built in the checkout and installed
from its file, each into a fresh virtual environment. In both, the ``erralert`` command
runs, the packaged default templates render, and the extra's integration imports.

The new environments see this one's packages (a ``.pth`` file naming a folder of links to
them, erralert's own left out), so pip installs erralert itself and downloads no
dependency; building the wheel fetches the build backend (hatchling) as it does for a
newcomer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "/path/to/erralert"
# what a build of the wheel reads (pyproject.toml: the package, the templates, the readme)
CHECKOUT_FILES = ("erralert", "templates", "pyproject.toml", "README.md")


def install_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"\*\*Installing\.\*\*.*?```bash\n(.*?)```", text, re.S)
    assert found, "the README's install commands are gone"
    return [line for line in found.group(1).splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout, without this environment's build leftovers."""
    root = tmp_path_factory.mktemp("clone") / "erralert"
    root.mkdir()
    for name in CHECKOUT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return root


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Links to this environment's installed packages, erralert's own and pip left out."""
    farm = tmp_path_factory.mktemp("packages")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "erralert" in entry.name or entry.name.startswith(("pip", "__editable__")):
            continue
        if entry.suffix == ".pth":
            continue
        (farm / entry.name).symlink_to(entry)
    return farm


def fresh_environment(where: Path, packages: Path) -> Path:
    """A new virtual environment with its own pip that sees ``packages``."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run(
        [str(where / "bin" / "python"), "-c", ask],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(f"{packages}\n", encoding="utf-8")
    return where


def run(command: str, environment: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in bash, the environment activated."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERRALERT_", "PYTHON"))}
    env["PATH"] = f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(environment)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


def assert_installed(environment: Path, cwd: Path) -> None:
    done = run("erralert --version", environment, cwd)
    assert done.stdout == "erralert 0.1.0\n", done.stderr
    where = run(
        "python -c 'import erralert, erralert.integrations.flask; print(erralert.__file__)'",
        environment,
        cwd,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(environment), where.stdout  # its own copy
    check = run("erralert check", environment, cwd)  # every platform's packaged template
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1] == (
        "✓ templates OK: alert, digest, storm rendered for 13 platform(s)"
    )


def test_the_readme_shows_a_checkout_install_and_a_wheel() -> None:
    commands = install_commands()
    assert commands == [
        f"pip install '{PLACEHOLDER}[flask]'    "
        "# from the checkout (pip install -e … follows its edits)",
        f"cd {PLACEHOLDER} && pip wheel --no-deps -w dist .",
        "pip install 'dist/erralert-0.1.0-py3-none-any.whl[flask]'",
    ]


@pytest.mark.e2e
def test_installing_from_the_checkout(tmp_path: Path, checkout: Path, packages: Path) -> None:
    environment = fresh_environment(tmp_path / "app-env", packages)
    command = install_commands()[0].replace(PLACEHOLDER, str(checkout))
    done = run(command, environment, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_installed(environment, tmp_path)


@pytest.mark.e2e
def test_installing_a_wheel_built_in_the_checkout(
    tmp_path: Path, checkout: Path, packages: Path
) -> None:
    environment = fresh_environment(tmp_path / "app-env", packages)
    build, install = install_commands()[1:]
    # one shell, as a user types them: the wheel is installed from the checkout's dist/
    done = run(f"{build.replace(PLACEHOLDER, str(checkout))}\n{install}", environment, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (checkout / "dist" / "erralert-0.1.0-py3-none-any.whl").is_file()
    assert_installed(environment, tmp_path)
