"""Git facts for the evidence manifest, read with git argv calls (never a shell)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .errors import ToolError
from .proc import run

GIT_TIMEOUT = 30.0
T = TypeVar("T")
FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> tuple[int, str]:
    proc = run(["git", "-C", str(repo), *args], timeout=timeout, env={**os.environ, **GIT_SAFE_ENV})
    return proc.returncode, proc.stdout.strip()


def toplevel(path: Path) -> Path | None:
    """The top of the work tree that holds ``path``, or None when it is not in one."""
    try:
        code, out = git(path, "rev-parse", "--show-toplevel")
    except ToolError:
        return None
    return Path(out).resolve() if code == 0 and out else None


def head_and_branch(repo: Path) -> tuple[str | None, str | None]:
    """HEAD's full SHA and branch (None when detached), in one git call."""
    code, out = git(repo, "rev-parse", "HEAD", "--abbrev-ref", "HEAD")
    lines = out.splitlines()
    if code != 0 or len(lines) != 2 or not FULL_SHA.match(lines[0]):
        return None, None
    return lines[0], (None if lines[1] == "HEAD" else lines[1])


def map_repos(function: Callable[[Path], T], repos: Iterable[Path]) -> list[T]:
    """Apply a git-bound function to many repositories at once (git runs outside the GIL)."""
    items = list(repos)
    if len(items) < 4:
        return [function(repo) for repo in items]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(function, items))


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


def current_branch(repo: Path) -> str | None:
    code, out = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    return out if code == 0 and out else None


def resolve_commit(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo`` (branch, tag, remote branch or SHA), or None."""
    if ref.startswith("-"):
        return None
    for candidate in (ref, f"refs/tags/{ref}", f"origin/{ref}"):
        code, out = git(repo, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
        if code == 0 and FULL_SHA.match(out):
            return out
    return None


def porcelain_status(repo: Path) -> list[str]:
    code, out = git(repo, "status", "--porcelain=v1", "--untracked-files=normal")
    if code != 0:
        raise ToolError(f"git status failed in {repo}")
    return [line for line in out.splitlines() if line]


def refs_with_path(repo: Path, path: str, pattern: str = r"^(origin/)?\d+\.\d+$") -> list[str]:
    """Series-like branches (local or origin/) of ``repo`` in which ``path`` exists."""
    code, out = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/remotes")
    if code != 0:
        return []
    found = []
    for ref in out.splitlines():
        if not re.match(pattern, ref):
            continue
        code, listing = git(repo, "ls-tree", "--name-only", ref, "--", path)
        if code == 0 and listing:
            found.append(ref.removeprefix("origin/"))
    return sorted(set(found))


_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/~-]+$")


def safe_git_url(url: str, base: Path) -> str:
    """A clone source git may use: https, ssh (URL or user@host:path), file, or a local path.

    Refuses what would let a manifest run commands (``ext::``, option injection).
    """
    if not url or url.startswith("-") or any(c in url for c in "\n\r\0"):
        raise ToolError(f"refused git URL {url!r}")
    if re.match(r"^(https|ssh|file)://", url) or _SCP_LIKE.match(url):
        return url
    if "://" in url or "::" in url:
        raise ToolError(f"refused git URL {url!r}: only https, ssh, file URLs and local paths")
    return str((base / url).resolve())


GIT_SAFE_ENV = {"GIT_ALLOW_PROTOCOL": "https:ssh:file", "GIT_TERMINAL_PROMPT": "0"}
