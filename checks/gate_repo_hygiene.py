"""Repository hygiene gates: no conflicts or (in production) uncommitted changes, no secrets
committed, no gate bypass in the pipeline files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_ipai.addons.addons_manifest import AddonsManifest
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.gitstate import map_repos, toplevel
from pytest_ipai.core.paths import rel
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.rules.hygiene import (
    DEFAULT_PIPELINE_FILES,
    committed_secrets,
    pipeline_bypasses,
    pipeline_files,
    tree_state,
)

pytestmark = [pytest.mark.predeploy]


def _stack_repo(config: StackConfig, gate: GateRecorder) -> Path:
    top = toplevel(config.repo_root)
    if top is None:
        gate.error("repo_not_git", f"{config.repo_root}: the stack is not a git work tree")
    return top


@pytest.mark.gate("git.clean", severity="critical")
def test_git_clean(
    ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_addons_manifest: AddonsManifest
) -> None:
    base = _stack_repo(ipai_config, ipai_gate)
    repos = [base]
    repos += [r.path for r in ipai_addons_manifest.repos if (r.path / ".git").exists()]
    conflicts: list[str] = []
    in_docs: list[str] = []
    dirty: list[str] = []
    try:
        for state in map_repos(tree_state, repos):
            label = rel(state.repo, base)
            conflicts += [f"{label}/{path}: unmerged" for path in state.unmerged]
            conflicts += [f"{hit.where(base)} ({hit.what})" for hit in state.markers]
            in_docs += [f"{hit.where(base)} ({hit.what})" for hit in state.doc_markers]
            if state.changes:
                example = state.changes[0][3:]
                dirty.append(f"{label}: {len(state.changes)} uncommitted change(s), e.g. {example}")
    except IpaiError as exc:
        ipai_gate.error("git_unavailable", exc.message)
    ipai_gate.measure("repos_checked", len(repos))
    ipai_gate.measure("dirty_repos", len(dirty))
    ipai_gate.blob(
        "git-clean.json",
        json.dumps({"conflicts": conflicts, "markers_in_docs": in_docs, "dirty": dirty}, indent=2),
        "application/json",
    )
    for where in in_docs:  # nothing loads documentation: worth fixing upstream, not blocking
        ipai_gate.notice("conflict_markers_in_docs", where)
    findings = [("merge_conflict", c) for c in conflicts]
    if ipai_config.env.production:
        findings += [("dirty_tree", d) for d in dirty]
    ipai_gate.fail_findings(findings)


@pytest.mark.gate("secrets.none_committed", severity="critical")
def test_no_secrets(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    repo = _stack_repo(ipai_config, ipai_gate)
    ignore = list(ipai_gate.params.get("ignore_paths", []))
    try:
        hits = committed_secrets(repo, ignore)
    except IpaiError as exc:
        ipai_gate.error("git_unavailable", exc.message)
    ipai_gate.measure("findings", len(hits))
    found = [f"{hit.where(repo)} ({hit.what})" for hit in hits]
    ipai_gate.blob("secrets.txt", "\n".join(found) + "\n")
    ipai_gate.fail_findings([("secret_committed", item) for item in found])


@pytest.mark.gate("pipeline.no_bypass")
def test_pipeline_no_bypass(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    repo = _stack_repo(ipai_config, ipai_gate)
    patterns = ipai_config.raw["stack"].get("pipeline_files") or list(DEFAULT_PIPELINE_FILES)
    files = pipeline_files(repo, patterns)
    try:
        hits = pipeline_bypasses(repo, files)
    except IpaiError as exc:
        ipai_gate.error("pipeline_unreadable", exc.message)
    ipai_gate.measure("files_checked", len(files))
    ipai_gate.blob("pipeline-files.txt", "\n".join(str(f.relative_to(repo)) for f in files) + "\n")
    ipai_gate.fail_findings([("gate_bypass", f"{hit.where(repo)}: {hit.what}") for hit in hits])
