"""Fetch the installed Starlette's and Flask's source distributions and run their own test
suites twice: as they are, and with every app they build wrapped in erralert.

Each peer's sdist (the exact installed version, ``pip download --no-binary NAME``) is
kept in ``build/peers/sdists/`` and unpacked afresh for each run. Its suite runs in a
scratch virtual environment that sees everything installed here (a ``.pth`` adds this
interpreter's site directories) plus what only the suite needs: its test requirements
that are not installed here, at the versions the peer's ``uv.lock`` pins, and pytest at
the lock's version (the suites use pytest's private modules, which change). Nothing here
is installed into or removed from the current environment, and pip caches nothing.

The peer's own copy of its package is removed from the unpacked tree, so that the suite
imports the *installed* package, the one erralert is used with. Both runs use the same
environment, the same test selection and the same order, so a test skipped for an optional
dependency that is missing is skipped in both (neither suite needs the network).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import site
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

from benchmarks.peers.outcomes import PASSED, SuiteRun, read_run

__all__ = ["PEERS", "Peer", "PeerError", "Scratch", "prepare", "run_suite"]

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "benchmarks.peers.plugin"
RUN_TIMEOUT = 900.0  # seconds for one run of a suite; a hang beyond it fails the run
TEST_TIMEOUT = 120  # seconds for one test (pytest-timeout), as in erralert's own suite


class PeerError(Exception):
    """The suite could not be fetched, set up or run at all: no verdict."""


@dataclass(frozen=True)
class Peer:
    """A framework whose own test suite is run against erralert."""

    name: str  # the distribution, as installed and on the registry; what the plugin wraps
    # what the suite imports besides the package, its dependencies and pytest
    test_requirements: tuple[str, ...]
    # the package's source directory inside the sdist, removed so the installed one is
    # imported (pytest puts the sdist's root on sys.path); None for a src/ layout
    source_package: str | None
    # what pytest collects, named so that nothing else in the sdist is (Starlette's has a
    # benchmarks/ package beside tests/)
    test_paths: tuple[str, ...] = ("tests",)


PEERS = (
    Peer(
        "starlette",
        (
            "httpx2[zstd]",  # the TestClient's HTTP client; zstd: its accept-encoding tests
            "python-multipart",
            "itsdangerous",
            "jinja2",
            "pyyaml",
            "trio",
            "blockbuster",  # the suite's detector of blocking calls on the event loop
            "opentelemetry-sdk",
        ),
        "starlette",
    ),
    Peer("flask", ("asgiref", "greenlet", "python-dotenv"), None),
)


@dataclass(frozen=True)
class Scratch:
    """Where a peer's files go: all below ``root`` (``build/peers`` by default)."""

    root: Path

    def sdists(self, peer: Peer, version: str) -> Path:
        return self.root / "sdists" / f"{peer.name}-{version}"

    def tree(self, peer: Peer) -> Path:
        return self.root / "src" / peer.name

    def venv(self, peer: Peer) -> Path:
        return self.root / "venv" / peer.name

    def results(self) -> Path:
        return self.root / "results"


@dataclass(frozen=True)
class Prepared:
    """A peer ready to run: its unpacked suite and the interpreter that runs it."""

    peer: Peer
    version: str
    tree: Path
    python: Path


def installed_version(peer: Peer) -> str:
    try:
        return importlib.metadata.version(peer.name)
    except importlib.metadata.PackageNotFoundError:
        raise PeerError(f"{peer.name} is not installed here: nothing to test") from None


def prepare(peer: Peer, scratch: Scratch, log: Path) -> Prepared:
    """Fetch (or reuse) the installed version's sdist, unpack it, build its environment."""
    version = installed_version(peer)
    sdist = fetch_sdist(peer, version, scratch.sdists(peer, version), log)
    tree = unpack(sdist, scratch.tree(peer))
    if peer.source_package is not None:
        shutil.rmtree(tree / peer.source_package)
    python = make_venv(scratch.venv(peer), requirements(peer, tree / "uv.lock"), log)
    return Prepared(peer, version, tree, python)


def fetch_sdist(peer: Peer, version: str, folder: Path, log: Path) -> Path:
    """The sdist of exactly ``version``, downloaded once into ``folder``."""
    found = _readable_sdist(folder)
    if found is not None:
        return found
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # --no-binary for the peer alone: with :all: pip would also build its build backend
    # (hatchling, flit_core and their dependencies) from source, a minute of work for nothing
    download = ["download", f"{peer.name}=={version}", "--no-binary", peer.name, "--no-deps"]
    pip([*download, "--dest", str(folder)], log)
    found = _readable_sdist(folder)
    if found is None:
        raise PeerError(f"pip download left no readable sdist of {peer.name} {version}")
    return found


def _readable_sdist(folder: Path) -> Path | None:
    for candidate in sorted(folder.glob("*.tar.gz")):
        try:
            with tarfile.open(candidate) as archive:
                archive.getmembers()  # reads to the end: a truncated download fails here
        except (OSError, tarfile.TarError):
            continue
        return candidate
    return None


def unpack(sdist: Path, into: Path) -> Path:
    """``sdist`` unpacked afresh into ``into``; its single top directory is returned."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    tops = [path for path in into.iterdir() if path.is_dir()]
    if len(tops) != 1:
        raise PeerError(f"{sdist.name}: expected one top directory, found {len(tops)}")
    return tops[0]


def requirements(peer: Peer, lock: Path) -> list[str]:
    """What the scratch environment installs: pytest at the peer's locked version, and
    each test requirement that is not installed here, at its locked version."""
    pins = locked_versions(lock)
    wanted: list[str] = []
    for spec in ("pytest", "pytest-timeout", *peer.test_requirements):
        requirement = Requirement(spec)
        if spec != "pytest" and _installed(requirement.name):
            continue  # this environment's copy is the one erralert is used with: keep it
        pin = pins.get(requirement.name.lower())
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        wanted.append(f"{requirement.name}{extras}=={pin}" if pin else spec)
    return wanted


def locked_versions(lock: Path) -> dict[str, str]:
    """Package versions in a ``uv.lock`` for this interpreter (an entry whose resolution
    markers all fail is for another Python); empty without a lock."""
    try:
        document = tomllib.loads(lock.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    versions: dict[str, str] = {}
    for package in document.get("package", ()):
        markers = package.get("resolution-markers")
        if markers and not any(Marker(marker).evaluate() for marker in markers):
            continue
        if "version" in package:
            versions[str(package["name"]).lower()] = str(package["version"])
    return versions


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def make_venv(folder: Path, wanted: Sequence[str], log: Path) -> Path:
    """A fresh virtual environment that sees this interpreter's packages, with ``wanted``
    installed into it (and only into it)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--clear", "--without-pip", str(folder)],
        check=True,
        timeout=120,
    )
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    # addsitedir (not a bare path) so that the .pth files there run too: erralert's
    # editable install is one
    lines = [f"import site; site.addsitedir({directory!r})" for directory in _site_dirs()]
    Path(purelib, "_erralert_peers_parent.pth").write_text("\n".join(lines) + "\n")
    if wanted:
        pip(["--python", str(python), "install", *wanted], log)
    return python


def _site_dirs() -> list[str]:
    dirs = [*site.getsitepackages()]
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def pip(args: Sequence[str], log: Path) -> None:
    command = [sys.executable, "-m", "pip", *args, "--no-cache-dir", "--disable-pip-version-check"]
    # the variable reaches the pip that installs an sdist's build backend, which the
    # option does not: nothing is cached outside the scratch directory
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1"}
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    if done.returncode != 0:
        raise PeerError(f"pip {args[0]} failed (exit {done.returncode}); see {log}")


def run_suite(
    prepared: Prepared,
    outcomes: Path,
    log: Path,
    *,
    wrap: bool,
    webhook: str = "up",
    args: Iterable[str] = (),
) -> SuiteRun:
    """One run of the peer's suite; wrapped, every app it builds goes through erralert."""
    command = [
        str(prepared.python),
        # -P: the working directory (the sdist's root) is not put on sys.path, so that the
        # plugin's package is this repository's benchmarks/, not a peer's of that name
        "-P",
        "-m",
        "pytest",
        "-p",
        PLUGIN,
        f"--peers-outcomes={outcomes}",
        "-p",
        "no:cacheprovider",  # writes nothing between runs: both runs start alike
        "-p",
        "no:randomly",  # one test order for both runs, should pytest-randomly be here
        f"--timeout={TEST_TIMEOUT}",
        "-q",
        *([f"--peers-wrap={prepared.peer.name}", f"--peers-webhook={webhook}"] if wrap else []),
        *args,
        *prepared.peer.test_paths,
    ]
    outcomes.unlink(missing_ok=True)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        try:
            done = subprocess.run(
                command,
                cwd=prepared.tree,
                env=suite_environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
            )
            exit_code: int | None = done.returncode
        except subprocess.TimeoutExpired:
            out.write(f"\nkilled after {RUN_TIMEOUT:.0f} s\n")
            exit_code = None
    return read_run(outcomes, exit_code=exit_code, seconds=time.monotonic() - started)


def suite_environment() -> dict[str, str]:
    """This process's environment, minus erralert's own settings (the wrapped apps use an
    explicit alerter; nothing may reach a webhook configured here), plus this repository
    on the path (the plugin lives in it)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ERRALERT_")}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def usable_baseline(run: SuiteRun) -> bool:
    """The unwrapped run is a baseline only if pytest finished and tests passed in it."""
    passed = sum(1 for o in run.tests.values() if o.outcome == PASSED)
    return run.exit_code in (0, 1) and passed > 0
