"""Repository hygiene: merge conflicts and dirty trees (committed secrets: secret_scan.py).

Tracked files are searched with ``git grep`` (fast, streams, skips binaries).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import IpaiError, ToolError
from ..core.gitstate import WorkTreeStatus, git, git_raw, work_tree_status
from ..core.textfile import read_text

GREP_TIMEOUT = 120.0


@dataclass(frozen=True)
class Hit:
    repo: Path
    file: str
    line: int
    what: str

    def where(self, base: Path | None = None) -> str:
        path = self.repo / self.file
        if base is not None and (base == path or base in path.parents):
            return f"{path.relative_to(base)}:{self.line}"
        return f"{path}:{self.line}"


def grep(repo: Path, *args: str, head: bool = False) -> list[tuple[str, int, str]]:
    """``git grep -n -I`` over tracked files: (file, line, text). No match is an empty list.
    With ``head`` the search runs in a commit and git prefixes each file with ``<rev>:``."""
    code, out = git(repo, "grep", "-n", "-I", "--no-color", "-z", *args, timeout=GREP_TIMEOUT)
    if code == 1:
        return []
    if code != 0:
        raise ToolError(f"git grep failed in {repo}")
    hits = []
    for record in out.splitlines():
        parts = record.split("\0", 2)
        if len(parts) == 3 and parts[1].isdigit():
            name = parts[0].split(":", 1)[1] if head and ":" in parts[0] else parts[0]
            hits.append((name, int(parts[1]), parts[2]))
    return hits


@dataclass(frozen=True)
class TreeState:
    repo: Path
    status: WorkTreeStatus  # HEAD, branch, changes, unmerged paths
    markers: list[Hit]  # in files Odoo or the stack loads: a broken merge
    doc_markers: list[Hit]  # in documentation only (README.rst, readme/*.md): harmless to run


def tree_state(repo: Path) -> TreeState:
    """One ``git status --porcelain=v2 --branch -z`` (HEAD, branch, unmerged paths, changes)
    and one ``git grep`` for conflict markers: all the hygiene and ref gates ask of a
    repository."""
    status = work_tree_status(repo)
    markers = conflict_markers(repo)
    return TreeState(
        repo,
        status,
        [hit for hit in markers if not is_documentation(hit.file)],
        [hit for hit in markers if is_documentation(hit.file)],
    )


# PCRE (as the secrets scan uses): its JIT makes this pass over every tracked text file a
# third faster than git's extended regexes.
_MARKERS = ("-P", "-e", "^(?:<{7}|>{7})(?: |$)")
_DOC_SUFFIXES = (".rst", ".md", ".markdown", ".txt", ".adoc")


def is_documentation(file: str) -> bool:
    """A file nothing loads at run time: prose (README.rst, readme/*.md, CHANGES.txt) and an
    addon's description page (static/description/)."""
    parts = file.split("/")
    return (
        file.lower().endswith(_DOC_SUFFIXES)
        or "readme" in parts[:-1]
        or ("static" in parts and "description" in parts)
    )


def conflict_markers(repo: Path) -> list[Hit]:
    """Conflict markers in tracked files, each said to be committed at HEAD or a local change."""
    found = grep(repo, *_MARKERS)
    if not found:
        return []
    files = sorted({f for f, _, _ in found})
    committed = {(f, n) for f, n, _ in grep(repo, *_MARKERS, "HEAD", "--", *files, head=True)}
    return [
        Hit(
            repo,
            f,
            n,
            "conflict marker, committed at HEAD"
            if (f, n) in committed
            else "conflict marker, a local change (not committed)",
        )
        for f, n, _ in found
    ]


def split_own(repo: Path, changes: list[str], own: list[str]) -> tuple[list[str], list[str]]:
    """``changes`` ("XY path" lines) split into (the others, the tool's own): a change is the
    tool's own when its path is one of ``own`` (repository-relative; a folder ends with "/")
    or lies inside one of those folders. An untracked folder that holds one of them (git shows
    "?? var/") is listed file by file first, so what else it holds stays with the others."""
    expanded: list[str] = []
    for change in changes:
        path = change[3:]
        holds_own = path.endswith("/") and any(e.startswith(path) and e != path for e in own)
        if change.startswith("?? ") and holds_own:
            expanded += [f"?? {name}" for name in _untracked_in(repo, path)]
        else:
            expanded.append(change)
    others: list[str] = []
    mine: list[str] = []
    for change in expanded:
        path = change[3:]
        ours = any(
            path == entry or (entry.endswith("/") and path.startswith(entry)) for entry in own
        ) or (path == ".gitignore" and only_own_ignores(repo, change[:2].strip()))
        (mine if ours else others).append(change)
    return others, mine


# What ``ipai init`` appends to .gitignore: a change made of these lines alone is the tool's own.
OWN_IGNORE_LINES = ("# pytest-ipai: evidence packs and deploy state", "/.ipai/")


def only_own_ignores(repo: Path, status: str) -> bool:
    """The .gitignore change adds OWN_IGNORE_LINES (or blank lines) and nothing else: a new
    file holding only them, or, against HEAD, no line removed and none changed."""
    if status == "??":
        try:
            text = read_text(repo / ".gitignore", ".gitignore")
        except IpaiError:
            return False
        return all(line.strip() in ("", *OWN_IGNORE_LINES) for line in text.splitlines())
    if status != "M":
        return False
    code, out = git_raw(repo, "diff", "--no-color", "-U0", "HEAD", "--", ".gitignore")
    if code != 0:
        raise ToolError(f"git diff failed in {repo}")
    for line in out.splitlines():
        if line.startswith(("+++", "---", "@@", "diff ", "index ")):
            continue
        if line.startswith("-") or (
            line.startswith("+") and line[1:].strip() not in ("", *OWN_IGNORE_LINES)
        ):
            return False
    return True


def _untracked_in(repo: Path, folder: str) -> list[str]:
    code, out = git_raw(repo, "ls-files", "--others", "--exclude-standard", "-z", "--", folder)
    if code != 0:
        raise ToolError(f"git ls-files failed in {repo}")
    return [name for name in out.split("\0") if name]
