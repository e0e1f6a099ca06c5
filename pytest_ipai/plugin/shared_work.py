"""Work several gates of a run need, done once per run through the run's memo (core/memo.py):
the addons tree along addons_path and the git state of the stack's repositories.

When the run has xdist workers, the controller starts this work in a background thread as the
session begins, for the gates the suite expects: its workers are starting meanwhile (a new
interpreter, pytest, the checks), so the controller's idle core does the work and the first
gate that asks finds it done. Without workers, the thread does only the git work: it waits on
git's processes (outside the GIL) while the checks parse the addons tree in the main thread.
A gate that asks earlier waits on the memo's lock; one that finds nothing (the thread failed)
does the work itself and meets the same error.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..addons.addons_manifest import AddonsManifest, load_stack_manifest
from ..config.stack import StackConfig
from ..core.errors import IpaiError
from ..core.gitstate import map_repos, toplevel
from ..core.memo import RunMemo

if TYPE_CHECKING:  # loaded by the work that needs them: a run of other gates never does
    from ..addons.stack import StackAddons
    from ..rules.hygiene import TreeState

ADDONS_TREE = "addons-tree"
GIT_TREES = "git-trees"
WAITING = {GIT_TREES}  # work spent in git's processes, not in this one
# The gates whose checks ask for each piece of work (a gate not expected: no prefetch).
NEEDED_BY = {
    ADDONS_TREE: {
        "addons.manifests_valid",
        "addons.unique_names",
        "addons.dependencies",
        "oca.must_have",
        "pipeline.no_bypass",
    },
    GIT_TREES: {"git.clean", "oca.repos_ref"},
}


@dataclass(frozen=True)
class GitTrees:
    """The stack's work tree and each repository's state (conflicts, changes), or why not."""

    top: Path | None  # None: the stack is not a git work tree
    states: list[TreeState]
    error: str | None = None  # git could not be asked


def addons_tree(memo: RunMemo, config: StackConfig, manifest: AddonsManifest) -> StackAddons:
    from ..addons.stack import load_stack_addons

    return memo.get(ADDONS_TREE, lambda: load_stack_addons(config, manifest))


def git_trees(memo: RunMemo, config: StackConfig, manifest: AddonsManifest) -> GitTrees:
    def compute() -> GitTrees:
        from ..rules.hygiene import tree_state

        top = toplevel(config.repo_root)
        if top is None:
            return GitTrees(None, [])
        repos = [top, *(r.path for r in manifest.repos if (r.path / ".git").exists())]
        try:
            return GitTrees(top, map_repos(tree_state, repos))
        except IpaiError as exc:
            return GitTrees(top, [], exc.message)

    return memo.get(GIT_TREES, compute)


def prefetch(
    memo: RunMemo, config: StackConfig, gate_ids: set[str], *, only_waiting: bool = False
) -> threading.Thread | None:
    """Start the shared work the expected gates need, in a daemon thread. ``only_waiting``:
    only the work that mostly waits on git (the checks run in this process meanwhile, and
    Python work in a thread would only take turns with them)."""
    wanted = [key for key, gates in NEEDED_BY.items() if gates & gate_ids]
    if only_waiting:
        wanted = [key for key in wanted if key in WAITING]
    if not wanted or memo.directory is None:
        return None

    def work() -> None:
        try:
            manifest = load_stack_manifest(config)
            if ADDONS_TREE in wanted:
                addons_tree(memo, config, manifest)
            if GIT_TREES in wanted:
                git_trees(memo, config, manifest)
        except Exception:  # the gates do this work again and report the error themselves
            return

    thread = threading.Thread(target=work, name="ipai-prefetch", daemon=True)
    thread.start()
    return thread
