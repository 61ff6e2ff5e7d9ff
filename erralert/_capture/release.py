"""Which release is running: ``ERRALERT_RELEASE``, else the git commit of the checkout.

The commit is read from the ``.git`` files directly (no ``git`` subprocess: the binary is
often missing from production images, and spawning one at import time is slow).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys

__all__ = ["detect_release"]

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1, or SHA-256 repositories
_MAX_SYMREF_HOPS = 5  # a ref may point to another ref; a loop must end
_MAX_FILE = 64 * 1024 * 1024  # packed-refs of huge monorepos stay under this


@functools.cache
def detect_release() -> str | None:
    """``ERRALERT_RELEASE`` when set and non-empty, else the commit (hex sha) checked out
    in the git repository containing the current directory or the main script, else None.
    Cached for the process; ``detect_release.cache_clear()`` forgets the answer."""
    env = os.environ.get("ERRALERT_RELEASE", "").strip()
    if env:
        return env
    for start in _start_dirs():
        git_dir = _find_git_dir(start)
        commit = _head_commit(git_dir) if git_dir is not None else None
        if commit is not None:
            return commit
    return None


def _start_dirs() -> list[str]:
    dirs: list[str] = []
    with contextlib.suppress(OSError):  # the working directory may have been removed
        dirs.append(os.getcwd())
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if isinstance(main_file, str) and main_file:
        dirs.append(os.path.dirname(os.path.abspath(main_file)))
    return dirs


def _find_git_dir(start: str) -> str | None:
    """The git directory of the repository containing ``start``, walking up."""
    current = os.path.abspath(start)
    while True:
        candidate = os.path.join(current, ".git")
        if os.path.isdir(candidate):
            return candidate
        if os.path.isfile(candidate):
            # worktrees and submodules: a file "gitdir: <path>", relative to its directory
            content = _read(candidate)
            if content is not None and content.startswith("gitdir:"):
                target = content[len("gitdir:") :].strip()
                return os.path.normpath(os.path.join(current, target))
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _head_commit(git_dir: str) -> str | None:
    # A linked worktree keeps HEAD in its own directory but refs in the common one.
    common = _read(os.path.join(git_dir, "commondir"))
    common_dir = os.path.normpath(os.path.join(git_dir, common.strip())) if common else git_dir
    head = _read(os.path.join(git_dir, "HEAD"))
    for _ in range(_MAX_SYMREF_HOPS):
        if head is None:
            return None
        head = head.strip()
        if _SHA.fullmatch(head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head[len("ref:") :].strip()
        if not _safe_ref(ref):
            return None
        head = _read_ref(git_dir, common_dir, ref)
    return None


def _safe_ref(ref: str) -> bool:
    # HEAD is data: it must not make us read outside the git directory
    return ref.startswith("refs/") and ".." not in ref.split("/") and "\\" not in ref


def _read_ref(git_dir: str, common_dir: str, ref: str) -> str | None:
    for base in dict.fromkeys((git_dir, common_dir)):
        loose = _read(os.path.join(base, *ref.split("/")))
        if loose is not None and loose.strip():
            return loose
    packed = _read(os.path.join(common_dir, "packed-refs"))
    if packed is None:
        return None
    for line in packed.splitlines():
        if not line or line[0] in "#^":  # header comment and peeled-tag lines
            continue
        sha, _, name = line.partition(" ")
        if name.strip() == ref and _SHA.fullmatch(sha):
            return sha
    return None


def _read(path: str) -> str | None:
    try:
        if os.path.getsize(path) > _MAX_FILE:
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except (OSError, ValueError):
        return None
