"""Git facts for the evidence manifest, read with git argv calls (never a shell)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import ToolError
from .gitrefs import head_from_files
from .proc import run

GIT_TIMEOUT = 30.0
T = TypeVar("T")
FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> tuple[int, str]:
    """Exit code and stdout, stripped (never for column formats: see ``git_raw``)."""
    code, out = git_raw(repo, *args, timeout=timeout)
    return code, out.strip()


def git_raw(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> tuple[int, str]:
    """Exit code and stdout as git wrote it: porcelain lines keep their leading space."""
    proc = run(["git", "-C", str(repo), *args], timeout=timeout, env={**os.environ, **GIT_SAFE_ENV})
    return proc.returncode, proc.stdout


def toplevel(path: Path) -> Path | None:
    """The top of the work tree that holds ``path``, or None when it is not in one."""
    try:
        code, out = git(path, "rev-parse", "--show-toplevel")
    except ToolError:
        return None
    return Path(out).resolve() if code == 0 and out else None


def tracked(path: Path) -> bool:
    """Whether git tracks this file (so what it holds is in the history); False outside a
    work tree."""
    code, _ = git(path.parent, "ls-files", "--error-unmatch", "--", path.name)
    return code == 0


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
    from concurrent.futures import ThreadPoolExecutor  # here: most calls take the path above

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(function, items))


def head_commit(repo: Path) -> str | None:
    """HEAD's commit: from the repository's files when they say it plainly, else from git."""
    known = head_from_files(repo)
    if known is not None:
        return known
    code, out = git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return out if code == 0 and FULL_SHA.match(out) else None


@dataclass(frozen=True)
class WorkTreeStatus:
    """What one ``git status --porcelain=v2 --branch -z`` says of a work tree."""

    head: str | None  # HEAD's commit (None: no commit yet)
    branch: str | None  # None when detached
    changes: list[str]  # "XY path" as porcelain v1 shows them ("?? path" untracked)
    unmerged: list[str]
    moved_from: list[str] = field(default_factory=list)  # the former paths of renames, copies

    def tracked_changes(self) -> list[str]:
        """Every tracked path whose content may differ from HEAD's: changed, unmerged, moved
        (new and former paths); untracked files are not among them."""
        paths = [c[3:] for c in self.changes if not c.startswith("?? ")]
        return sorted({*paths, *self.moved_from})


def work_tree_status(repo: Path) -> WorkTreeStatus:
    code, out = git_raw(
        repo, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal"
    )
    if code != 0:
        raise ToolError(f"git status failed in {repo}")
    head: str | None = None
    branch: str | None = None
    unmerged: list[str] = []
    changes: list[str] = []
    moved_from: list[str] = []
    records = iter(out.split("\0"))
    for record in records:
        if record.startswith("# branch.oid "):
            oid = record[len("# branch.oid ") :]
            head = oid if FULL_SHA.match(oid) else None  # "(initial)": no commit yet
        elif record.startswith("# branch.head "):
            name = record[len("# branch.head ") :]
            branch = None if name == "(detached)" else name
        elif record[:2] in ("1 ", "2 "):
            fields = record.split(" ", 9 if record[0] == "2" else 8)
            changes.append(f"{fields[1].replace('.', ' ')} {fields[-1]}")
            if record[0] == "2":
                # A rename's original path follows as its own record.
                moved_from.append(next(records, ""))
        elif record.startswith("u "):
            path = record.split(" ", 10)[-1]
            unmerged.append(path)
            changes.append(f"{record[2:4]} {path}")
        elif record.startswith("? "):
            changes.append(f"?? {record[2:]}")
    return WorkTreeStatus(head, branch, changes, sorted(unmerged), [p for p in moved_from if p])


def repo_state(repo: Path) -> dict[str, Any]:
    """Branch, full SHA, tree SHA, diffstat and dirty flag; or why it could not be read.
    Four git calls: every run's manifest asks, before its first gate."""
    if not repo.is_dir():
        return {"available": False, "reason": f"{repo}: no such directory"}
    try:
        top = toplevel(repo)
        if top is None:
            return {"available": False, "reason": f"{repo}: not a git work tree"}
        status = work_tree_status(top)
        _, tree = git(top, "rev-parse", "HEAD^{tree}")
        if status.head is None or not FULL_SHA.match(tree):
            return {"available": False, "reason": f"{top}: repository has no commit"}
        _, diffstat = git(top, "diff", "--shortstat", "HEAD")
    except ToolError as exc:
        return {"available": False, "reason": exc.message}
    return {
        "available": True,
        "path": str(top),
        "branch": status.branch,
        "sha": status.head,
        "tree_sha": tree,
        "dirty": bool(status.changes),
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
    """The uncommitted changes, "XY path" each (untracked: "?? path")."""
    return work_tree_status(repo).changes


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


def path_fate(repo: Path, path: str) -> str | None:
    """What the history of ``repo`` says became of ``path``: tracked but deleted from the work
    tree, renamed, or removed (with the commit); None when the history says nothing. A shallow
    clone cannot be asked, which the answer says."""
    code, deleted = git(repo, "ls-files", "--deleted", "--", path)
    if code == 0 and deleted:
        return (
            "deleted in the checkout: tracked by git at HEAD but missing from the work tree "
            f"(git -C {repo.name} checkout -- {path} restores it)"
        )
    code, removed = git(repo, "log", "-1", "--diff-filter=D", "--format=%h %s", "--", path)
    if code == 0 and removed:
        commit = removed.split(" ", 1)[0]
        _, changes = git(repo, "show", "-M", "--name-status", "--format=", commit)
        for line in changes.splitlines():
            parts = line.split("\t")
            if (
                len(parts) == 3
                and parts[0].startswith("R")
                and parts[1] == f"{path}/__manifest__.py"
            ):
                return f"renamed to {parts[2].split('/')[0]} in commit {removed}"
        return f"removed in commit {removed}"
    code, shallow = git(repo, "rev-parse", "--is-shallow-repository")
    if code == 0 and shallow == "true":
        return "the checkout is shallow, so its history could not be asked whether it was renamed"
    return None
