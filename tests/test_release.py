from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from erralert._capture.release import detect_release

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No ERRALERT_RELEASE, a working directory outside any repository, a __main__ without
    a file, and a fresh cache around every test."""
    monkeypatch.delenv("ERRALERT_RELEASE", raising=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    detect_release.cache_clear()
    yield
    detect_release.cache_clear()


def _git_dir(root: Path, head: str) -> Path:
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head)
    return git


def test_no_repository(tmp_path: Path) -> None:
    if any((p / ".git").exists() for p in [tmp_path, *tmp_path.parents]):
        pytest.skip("the temporary directory is inside a git checkout")
    assert detect_release() is None


@pytest.mark.parametrize("value", ["v1.2.3", "  2024.05.01  "])
def test_environment_variable_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    _git_dir(tmp_path, SHA + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ERRALERT_RELEASE", value)
    assert detect_release() == value.strip()


def test_empty_environment_variable_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _git_dir(tmp_path, SHA + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ERRALERT_RELEASE", "  ")
    assert detect_release() == SHA


def test_loose_ref_found_from_a_subdirectory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git = _git_dir(tmp_path, "ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA + "\n")
    sub = tmp_path / "src" / "app"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert detect_release() == SHA


def test_branch_with_slashes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    git = _git_dir(tmp_path, "ref: refs/heads/feature/x\n")
    (git / "refs" / "heads" / "feature").mkdir()
    (git / "refs" / "heads" / "feature" / "x").write_text(SHA)
    monkeypatch.chdir(tmp_path)
    assert detect_release() == SHA


def test_packed_refs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    git = _git_dir(tmp_path, "ref: refs/heads/main\n")
    (git / "packed-refs").write_text(
        "# pack-refs with: peeled fully-peeled sorted\n"
        f"{OTHER} refs/heads/develop\n"
        f"{SHA} refs/heads/main\n"
        f"{OTHER} refs/tags/v1\n"
        f"^{OTHER}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert detect_release() == SHA


def test_loose_ref_wins_over_packed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    git = _git_dir(tmp_path, "ref: refs/heads/main\n")
    (git / "packed-refs").write_text(f"{OTHER} refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA + "\n")
    monkeypatch.chdir(tmp_path)
    assert detect_release() == SHA


def test_detached_head(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _git_dir(tmp_path, SHA + "\n")
    monkeypatch.chdir(tmp_path)
    assert detect_release() == SHA


def test_git_file_and_worktree_commondir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    main_git = _git_dir(tmp_path / "main", "ref: refs/heads/main\n")
    (main_git / "packed-refs").write_text(f"{SHA} refs/heads/wt\n")
    worktree_git = main_git / "worktrees" / "wt"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/wt\n")
    (worktree_git / "commondir").write_text("../..\n")
    checkout = tmp_path / "wt"
    checkout.mkdir()
    (checkout / ".git").write_text("gitdir: ../main/.git/worktrees/wt\n")
    monkeypatch.chdir(checkout)
    assert detect_release() == SHA


def test_falls_back_to_the_main_script_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git = _git_dir(tmp_path / "repo", "ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA)
    main = types.ModuleType("__main__")
    main.__file__ = str(tmp_path / "repo" / "bin" / "serve.py")
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert detect_release() == SHA


@pytest.mark.parametrize(
    "head",
    [
        "ref: refs/heads/missing\n",  # unborn branch
        "ref: refs/../../etc/passwd\n",  # must not escape the git directory
        "ref: HEAD\n",
        "not a ref\n",
        "0123\n",
        "",
    ],
)
def test_unreadable_heads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, head: str) -> None:
    _git_dir(tmp_path, head)
    monkeypatch.chdir(tmp_path)
    assert detect_release() is None


def test_symbolic_ref_loop_ends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    git = _git_dir(tmp_path, "ref: refs/heads/a\n")
    (git / "refs" / "heads" / "a").write_text("ref: refs/heads/b\n")
    (git / "refs" / "heads" / "b").write_text("ref: refs/heads/a\n")
    monkeypatch.chdir(tmp_path)
    assert detect_release() is None


def test_result_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    git = _git_dir(tmp_path, "ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(SHA)
    monkeypatch.chdir(tmp_path)
    assert detect_release() == SHA
    (git / "refs" / "heads" / "main").write_text(OTHER)
    assert detect_release() == SHA
    detect_release.cache_clear()
    assert detect_release() == OTHER
