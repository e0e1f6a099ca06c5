"""Git facts for the evidence manifest, read with git argv calls (never a shell)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import ToolError
from .proc import run

GIT_TIMEOUT = 30.0
FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> tuple[int, str]:
    proc = run(["git", "-C", str(repo), *args], timeout=timeout)
    return proc.returncode, proc.stdout.strip()


def toplevel(path: Path) -> Path | None:
    """The top of the work tree that holds ``path``, or None when it is not in one."""
    try:
        code, out = git(path, "rev-parse", "--show-toplevel")
    except ToolError:
        return None
    return Path(out).resolve() if code == 0 and out else None


def head_commit(repo: Path) -> str | None:
    code, out = git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return out if code == 0 and FULL_SHA.match(out) else None


def repo_state(repo: Path) -> dict[str, Any]:
    """Branch, full SHA, tree SHA, diffstat and dirty flag; or why it could not be read."""
    if not repo.is_dir():
        return {"available": False, "reason": f"{repo}: no such directory"}
    try:
        top = toplevel(repo)
        if top is None:
            return {"available": False, "reason": f"{repo}: not a git work tree"}
        sha = head_commit(top)
        if sha is None:
            return {"available": False, "reason": f"{top}: repository has no commit"}
        _, tree = git(top, "rev-parse", f"{sha}^{{tree}}")
        code, branch = git(top, "symbolic-ref", "--quiet", "--short", "HEAD")
        _, status = git(top, "status", "--porcelain=v1", "--untracked-files=normal")
        _, diffstat = git(top, "diff", "--shortstat", "HEAD")
    except ToolError as exc:
        return {"available": False, "reason": exc.message}
    return {
        "available": True,
        "path": str(top),
        "branch": branch if code == 0 else None,
        "sha": sha,
        "tree_sha": tree,
        "dirty": bool(status),
        "diffstat": diffstat,
    }
