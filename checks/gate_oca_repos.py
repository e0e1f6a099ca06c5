"""OCA repository gates: the addons manifest's repositories are on disk as git checkouts."""

from __future__ import annotations

import json

import pytest

from pytest_ipai.addons_manifest import AddonsManifest
from pytest_ipai.recorder import GateRecorder
from pytest_ipai.repos import MISSING, NOT_GIT, PRESENT, presence

pytestmark = [pytest.mark.predeploy]


@pytest.mark.gate("oca.repos_present", severity="critical")
def test_repos_present(ipai_gate: GateRecorder, ipai_addons_manifest: AddonsManifest) -> None:
    rows = presence(ipai_addons_manifest)
    ipai_gate.blob(
        "repos.json",
        json.dumps(
            [{"name": r.repo.name, "path": r.repo.rel_path, "state": r.state} for r in rows],
            indent=2,
        ),
        "application/json",
    )
    present = [r for r in rows if r.state == PRESENT]
    missing = [r for r in rows if r.state == MISSING]
    not_git = [r for r in rows if r.state == NOT_GIT]
    ipai_gate.measure("repos_present", len(present))
    ipai_gate.measure("repos_expected", len(rows))
    summary = f"{len(present)}/{len(rows)} present"
    parts = []
    if missing:
        parts.append("missing: " + ", ".join(f"{r.repo.name} ({r.repo.rel_path})" for r in missing))
    if not_git:
        parts.append("not git: " + "; ".join(f"{r.repo.name} ({r.detail})" for r in not_git))
    if missing:
        ipai_gate.fail("repo_missing", f"{summary}; " + "; ".join(parts))
    if not_git:
        ipai_gate.fail("repo_not_git", f"{summary}; " + "; ".join(parts))
    if not rows:
        ipai_gate.fail("repo_missing", "0/0 present: the addons manifest lists no repository")
