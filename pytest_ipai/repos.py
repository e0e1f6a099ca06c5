"""Where the addons manifest's repositories stand on disk."""

from __future__ import annotations

from dataclasses import dataclass

from .addons_manifest import AddonsManifest, RepoSpec
from .gitstate import toplevel

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
