"""HEAD's commit read from a repository's own files, as git's files backend keeps them: the
evidence manifest names the commit of every addons repository, and one ``git rev-parse`` per
repository was most of a run's start on a stack of fifty.

Anything this does not know for sure (a reftable repository, an odd HEAD, a ref it cannot
find) answers None, and the caller asks git. Tests hold it equal to ``git rev-parse``."""

from __future__ import annotations

import re
from pathlib import Path

_OID = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_MAX_SYMREF_DEPTH = 5  # git's own limit for symbolic refs is the same order


def head_from_files(repo: Path) -> str | None:
    try:
        gitdir = _git_dir(repo)
        if gitdir is None:
            return None
        common = _common_dir(gitdir)
        if (common / "reftable").exists():
            return None  # the reftable backend: binary tables, git reads them
        ref = "HEAD"
        for _ in range(_MAX_SYMREF_DEPTH):
            value = _ref_value(gitdir, common, ref)
            if value is None:
                return None
            if _OID.match(value):
                return value
            if not value.startswith("ref: "):
                return None
            ref = value[5:].strip()
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _git_dir(repo: Path) -> Path | None:
    dotgit = repo / ".git"
    if dotgit.is_dir():
        return dotgit
    if dotgit.is_file():  # a submodule or a worktree: "gitdir: <path>"
        text = dotgit.read_text("utf-8").strip()
        if text.startswith("gitdir: "):
            return (repo / text[8:].strip()).resolve()
    return None


def _common_dir(gitdir: Path) -> Path:
    """Where shared refs live: a worktree's git dir names it in ``commondir``."""
    marker = gitdir / "commondir"
    if marker.is_file():
        return (gitdir / marker.read_text("utf-8").strip()).resolve()
    return gitdir


def _ref_value(gitdir: Path, common: Path, ref: str) -> str | None:
    """A ref's content: its loose file (HEAD and per-worktree refs in the git dir, the rest in
    the common dir), else its line in packed-refs."""
    if ref == "HEAD" or ref.startswith(("refs/worktree/", "refs/bisect/", "refs/rewritten/")):
        base = gitdir
    else:
        base = common
    loose = base / ref
    if loose.is_file():
        return loose.read_text("utf-8").strip()
    if ref == "HEAD":
        return None
    packed = common / "packed-refs"
    if not packed.is_file():
        return None
    suffix = f" {ref}"
    for line in packed.read_text("utf-8").splitlines():
        if line.endswith(suffix) and not line.startswith(("#", "^")):
            return line[: -len(suffix)]
    return None
