"""Repository hygiene: merge conflicts and dirty trees (conflict markers: marker_scan.py;
committed secrets: secret_scan.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import IpaiError, ToolError
from ..core.gitstate import WorkTreeStatus, git_raw, work_tree_status
from ..core.textfile import read_text
from .marker_scan import Hit, conflict_markers


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
    markers = conflict_markers(repo, status)
    return TreeState(
        repo,
        status,
        [hit for hit in markers if not is_documentation(hit.file)],
        [hit for hit in markers if is_documentation(hit.file)],
    )


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
