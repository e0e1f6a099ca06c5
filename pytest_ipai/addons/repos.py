"""Where the addons manifest's repositories stand on disk."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.gitstate import head_and_branch, map_repos, resolve_commit, toplevel
from .addons_manifest import AddonsManifest, RepoSpec

PRESENT = "present"
MISSING = "missing"
NOT_GIT = "not_git"


@dataclass(frozen=True)
class RepoPresence:
    repo: RepoSpec
    state: str
    detail: str = ""


def presence(manifest: AddonsManifest) -> list[RepoPresence]:
    """Each repository: present as its own git checkout, missing, or there but not a checkout.

    A folder inside the stack repository is "not git" even though git answers for it: it is
    then not a checkout of the OCA repository but files copied into ours.
    """
    out = []
    for repo in manifest.repos:
        if not repo.path.exists():
            out.append(RepoPresence(repo, MISSING, f"{repo.rel_path}: no such directory"))
        elif not repo.path.is_dir():
            out.append(RepoPresence(repo, NOT_GIT, f"{repo.rel_path}: not a directory"))
        elif (repo.path / ".git").exists():
            out.append(RepoPresence(repo, PRESENT))  # its own .git: a checkout of its own
        else:
            top = toplevel(repo.path)
            if top is None:
                out.append(RepoPresence(repo, NOT_GIT, f"{repo.rel_path}: not a git checkout"))
            elif top != repo.path.resolve():
                out.append(
                    RepoPresence(
                        repo,
                        NOT_GIT,
                        f"{repo.rel_path}: inside the git work tree {top}, "
                        "not a checkout of its own",
                    )
                )
            else:
                out.append(RepoPresence(repo, PRESENT))
    return out


@dataclass(frozen=True)
class RefCheck:
    repo: RepoSpec
    error_class: str | None  # None, repo_ref_mismatch or unpinned_ref
    message: str
    head: str | None
    expected: str


def check_refs(
    manifest: AddonsManifest,
    series: str | None,
    lock: dict[str, dict[str, Any]] | None,
    production: bool,
    known: Mapping[Path, tuple[str | None, str | None]] | None = None,
) -> list[RefCheck]:
    """Each present repository against the lock's commit, else its ref (default: the series).
    ``known``: (HEAD, branch) by repository path, already read (the run's shared git state);
    git is asked for the others.

    In production every repository must be pinned by the lock: a branch moves under you.
    """
    present = [r for r in manifest.repos if (r.path / ".git").exists()]  # others: repos_present
    known = known or {}
    unknown = [r for r in present if r.path not in known]
    asked = dict(
        zip(
            (r.path for r in unknown),
            map_repos(head_and_branch, (r.path for r in unknown)),
            strict=True,
        )
    )
    heads = {r.name: known.get(r.path) or asked[r.path] for r in present}
    out = []
    for repo in present:
        head, branch = heads[repo.name]
        pinned = (lock or {}).get(repo.name)
        if pinned is not None:
            ok = head == pinned["commit"]
            out.append(
                RefCheck(
                    repo,
                    None if ok else "repo_ref_mismatch",
                    f"{repo.name}: HEAD {short(head)}, lock pins {short(pinned['commit'])}",
                    head,
                    pinned["commit"],
                )
            )
            continue
        expected = repo.ref or series or ""
        ok = bool(expected) and (branch == expected or resolve_commit(repo.path, expected) == head)
        where = f"on branch {branch}" if branch else f"detached at {short(head)}"
        if not ok:
            out.append(
                RefCheck(
                    repo,
                    "repo_ref_mismatch",
                    f"{repo.name}: {where}, expected {expected or '(no ref, no series)'}",
                    head,
                    expected,
                )
            )
        elif production:
            out.append(
                RefCheck(
                    repo,
                    "unpinned_ref",
                    f"{repo.name}: {where}, not pinned to a commit in the lock file",
                    head,
                    expected,
                )
            )
        else:
            out.append(RefCheck(repo, None, f"{repo.name}: {where}", head, expected))
    return out


def short(sha: str | None) -> str:
    return sha[:12] if sha else "(none)"


@dataclass(frozen=True)
class Undeclared:
    rel_path: str  # inside the stack repository
    addons: int
    direct: bool  # an addon folder itself, placed directly under the root


def undeclared_under_roots(manifest: AddonsManifest, stack_root: Path) -> list[Undeclared]:
    """Addons under an OCA root that no declared repository holds: an addon folder placed
    directly beside the checkouts, or a checkout the manifest does not list. Odoo may or may
    not load them (it depends on addons_path); the manifest does not know them either way."""
    declared = {repo.path for repo in manifest.repos}
    out = []
    for root in manifest.oca_roots:
        try:
            children = sorted(p for p in root.iterdir() if p.is_dir() and p.name[0] != ".")
        except OSError:
            continue  # a missing root is oca.repos_present's business through its repositories
        for child in children:
            if child.resolve() in declared:
                continue
            direct = (child / "__manifest__.py").is_file()
            count = 1 if direct else sum(1 for s in child.glob("*/__manifest__.py") if s.is_file())
            if count:
                inside = child.is_relative_to(stack_root)
                rel = child.relative_to(stack_root).as_posix() if inside else str(child)
                out.append(Undeclared(rel, count, direct))
    return out
