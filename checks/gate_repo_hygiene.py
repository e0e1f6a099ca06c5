"""Repository hygiene gates: no conflicts or (in production) uncommitted changes, no secrets
committed, no gate bypass in the CI files (judged by their structure, rules/pipeline.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_ipai.addons.addons_manifest import AddonsManifest
from pytest_ipai.addons.core import core_ce, core_ee
from pytest_ipai.addons.stack import StackAddons
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import ConfigError, IpaiError
from pytest_ipai.core.gitstate import toplevel
from pytest_ipai.core.memo import RunMemo
from pytest_ipai.core.outcomes import GateError
from pytest_ipai.core.paths import rel
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.plugin.shared_work import git_trees
from pytest_ipai.rules.ci_commands import CommandPolicy
from pytest_ipai.rules.hygiene import split_own
from pytest_ipai.rules.pipeline import RANK, lint_pipelines
from pytest_ipai.rules.secret_scan import grouped, scan_with_params

pytestmark = [pytest.mark.predeploy]


def _stack_repo(config: StackConfig, gate: GateRecorder) -> Path:
    top = toplevel(config.repo_root)
    if top is None:
        gate.error("repo_not_git", f"{config.repo_root}: the stack is not a git work tree")
    return top


def own_paths(config: StackConfig, top: Path) -> list[str]:
    """The tool's own files inside the stack repository, relative to it (folders end in "/"):
    the config file, the evidence root and the state file."""
    entries = [(config.file, False), (config.env.evidence_root, True)]
    state = config.env.path("state_file")
    if state is not None:
        entries.append((state, False))
    own = []
    for path, folder in entries:
        resolved = path.resolve()
        if resolved == top or top not in resolved.parents:
            continue  # outside the repository (or the repository itself): never ours to skip
        relative = resolved.relative_to(top).as_posix()
        own.append(relative + "/" if folder else relative)
    return own


@pytest.mark.gate("git.clean", severity="critical")
def test_git_clean(
    ipai_gate: GateRecorder,
    ipai_config: StackConfig,
    ipai_addons_manifest: AddonsManifest,
    ipai_run_memo: RunMemo,
) -> None:
    trees = git_trees(ipai_run_memo, ipai_config, ipai_addons_manifest)
    base = trees.top
    if base is None:
        ipai_gate.error(
            "repo_not_git", f"{ipai_config.repo_root}: the stack is not a git work tree"
        )
    if trees.error is not None:
        ipai_gate.error("git_unavailable", trees.error)
    conflicts: list[str] = []
    in_docs: list[str] = []
    dirty: list[str] = []
    for state in trees.states:
        label = rel(state.repo, base)
        conflicts += [f"{label}/{path}: unmerged" for path in state.status.unmerged]
        conflicts += [f"{hit.where(base)} ({hit.what})" for hit in state.markers]
        in_docs += [f"{hit.where(base)} ({hit.what})" for hit in state.doc_markers]
        changes = state.status.changes
        if state.repo == base:
            # The tool never dirties what it judges: its config, evidence and state files.
            try:
                changes, mine = split_own(base, changes, own_paths(ipai_config, base))
            except IpaiError as exc:
                ipai_gate.error("git_unavailable", exc.message)
            for change in mine:
                ipai_gate.notice("own_files_uncommitted", f"{change[3:]} ({change[:2].strip()})")
        if changes:
            example = changes[0][3:]
            dirty.append(f"{label}: {len(changes)} uncommitted change(s), e.g. {example}")
    ipai_gate.measure("repos_checked", len(trees.states))
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
    try:
        scan, baseline = scan_with_params(repo, ipai_gate.params, ipai_config.secret_values())
    except ConfigError as exc:
        ipai_gate.error("baseline_invalid", exc.message)
    except IpaiError as exc:
        ipai_gate.error("git_unavailable", exc.message)
    quiet = scan.suppressed_counts()
    ipai_gate.measure("files_tracked", scan.files_tracked)
    ipai_gate.measure("files_scanned", scan.files_scanned)
    ipai_gate.measure("files_skipped", scan.skipped)
    ipai_gate.measure("candidate_lines", scan.candidate_lines)
    ipai_gate.measure("files_capped", scan.capped)
    ipai_gate.measure("suppressed", quiet)
    ipai_gate.measure("findings", len(scan.findings))
    ipai_gate.blob("secrets.json", json.dumps(scan.to_dict(), indent=1), "application/json")
    if baseline.unjudged:
        ipai_gate.notice(
            "baseline_entries_unjudged",
            f"{baseline.name}: {baseline.unjudged} entries give no reason and no audit verdict;"
            " they accept nothing (ipai secrets baseline --reason records one)",
        )
    if scan.files_scanned == 0:
        ipai_gate.error("nothing_scanned", f"{repo}: no tracked text file: nothing was scanned")
    groups = grouped(scan.findings)
    ipai_gate.fail_findings(
        [("secret_committed", text) for text in groups],
        prefix=f"{len(scan.findings)} secret(s) committed, {len(groups)} distinct: ",
        suffix="; suppressed: " + ", ".join(f"{n} {why}" for why, n in quiet.items())
        if quiet
        else "",
    )


@pytest.mark.gate("pipeline.no_bypass")
def test_pipeline_no_bypass(
    ipai_gate: GateRecorder, ipai_config: StackConfig, request: pytest.FixtureRequest
) -> None:
    repo = _stack_repo(ipai_config, ipai_gate)
    params = ipai_gate.params
    try:
        policy = CommandPolicy.from_params(params.get("commands"), "params.commands")
        known = _known_modules(ipai_gate, ipai_config, request, params.get("known_modules", []))
        report = lint_pipelines(repo, ipai_config.setting("pipeline_files"), policy, known)
    except ConfigError as exc:
        ipai_gate.error("policy_invalid", f"pipeline.no_bypass: {exc.message}")
    except IpaiError as exc:
        ipai_gate.error("git_unavailable", exc.message)
    ipai_gate.measure("files_checked", len(report.files))
    ipai_gate.measure("steps_checked", report.steps)
    ipai_gate.measure("findings", len(report.findings))
    ipai_gate.blob(
        "pipeline-findings.json",
        json.dumps(
            {
                "files": report.files,
                "unreadable": report.unreadable,
                "steps_with_syntax_errors": report.unparsed,
                "findings": [f.to_dict() for f in report.findings],
            },
            indent=2,
        ),
        "application/json",
    )
    for problem in report.unreadable:
        ipai_gate.notice("pipeline_unreadable", problem)
    for where in report.unparsed:
        ipai_gate.notice("shell_syntax_error", where)
    for finding in report.findings:
        ipai_gate.locate(finding.error_class, finding.file, finding.line, finding.why)
    if not report.files and not report.unreadable:
        if params.get("require_files", False) and ipai_config.env.production:
            ipai_gate.fail(
                "no_pipeline_files", "no CI or pipeline file found; production requires one"
            )
        pytest.skip("no CI or pipeline file found (nothing to judge)")
    ipai_gate.fail_findings([(f.error_class, f.text()) for f in report.findings], rank=RANK)


def _known_modules(
    gate: GateRecorder, config: StackConfig, request: pytest.FixtureRequest, extra: object
) -> set[str]:
    """Module names a --test-tags spec may name: the stack's addons, Odoo's core addons of the
    stack's series, and params.known_modules."""
    if not isinstance(extra, list) or not all(isinstance(m, str) for m in extra):
        raise ConfigError("params.known_modules: expected a list of module names")
    known = set(extra)
    try:
        addons: StackAddons = request.getfixturevalue("ipai_stack_addons")
    except GateError as exc:
        gate.notice(
            "addons_tree_unreadable", f"test tags judged without the stack's addons: {exc.message}"
        )
        series = config.series
    else:
        known |= set(addons.tree.addons)
        series = addons.series
    if series:
        known |= core_ce(series) | core_ee(series)
    return known
