"""OCA repository gates: repositories present as checkouts, on the right ref, holding the
must-have modules."""

from __future__ import annotations

import json

import pytest

from pytest_ipai.addons.addons_manifest import AddonsManifest
from pytest_ipai.addons.lockfile import load_lock
from pytest_ipai.addons.must_have import check_must_have
from pytest_ipai.addons.repos import (
    MISSING,
    NOT_GIT,
    PRESENT,
    check_refs,
    presence,
    undeclared_under_roots,
)
from pytest_ipai.addons.stack import StackAddons
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.memo import RunMemo
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.plugin.shared_work import git_trees

pytestmark = [pytest.mark.predeploy]


@pytest.mark.gate("oca.repos_present", severity="critical")
def test_repos_present(
    ipai_gate: GateRecorder, ipai_addons_manifest: AddonsManifest, ipai_config: StackConfig
) -> None:
    rows = presence(ipai_addons_manifest)
    stray = undeclared_under_roots(ipai_addons_manifest, ipai_config.repo_root)
    ipai_gate.measure("undeclared_addons", sum(s.addons for s in stray))
    for found in stray:
        what = (
            "an addon placed directly under the OCA root"
            if found.direct
            else (f"a checkout of {found.addons} addons that no manifest file lists")
        )
        ipai_gate.notice(
            "not_in_declared_repository",
            f"{found.rel_path}: {what}: not in any declared repository",
        )
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
    findings = [("repo_missing", f"missing: {r.repo.name} ({r.repo.rel_path})") for r in missing]
    findings += [("repo_not_git", f"not git: {r.repo.name} ({r.detail})") for r in not_git]
    ipai_gate.fail_findings(findings, prefix=f"{len(present)}/{len(rows)} present; ")
    if not rows:  # the manifest was read and declares none: nothing is missing
        _nothing_declared(ipai_gate, ipai_addons_manifest, "no OCA repository")


def _nothing_declared(gate: GateRecorder, manifest: AddonsManifest, what: str) -> None:
    """A stack without OCA repositories (or must-haves) is legitimate: the gate read the
    manifest, so it passes, and says why there was nothing to check."""
    gate.measure("nothing_declared", True)
    gate.notice("nothing_declared", f"{manifest.file.name} declares {what}: nothing to check")


@pytest.mark.gate("oca.repos_ref")
def test_repos_ref(
    ipai_gate: GateRecorder,
    ipai_addons_manifest: AddonsManifest,
    ipai_config: StackConfig,
    ipai_run_memo: RunMemo,
) -> None:
    try:
        lock = load_lock(ipai_config.lock_file)
    except IpaiError as exc:
        ipai_gate.error("lock_invalid", exc.message)
    # HEAD and branch of each repository, from the run's one git status per repository.
    trees = git_trees(ipai_run_memo, ipai_config, ipai_addons_manifest)
    known = {s.repo: (s.status.head, s.status.branch) for s in trees.states}
    checks = check_refs(
        ipai_addons_manifest,
        ipai_config.series or ipai_addons_manifest.series,
        lock,
        ipai_config.env.production,
        known,
    )
    ipai_gate.measure("repos_checked", len(checks))
    ipai_gate.measure("locked", lock is not None)
    ipai_gate.blob(
        "refs.json",
        json.dumps(
            [
                {
                    "repo": c.repo.name,
                    "head": c.head,
                    "expected": c.expected,
                    "class": c.error_class,
                }
                for c in checks
            ],
            indent=2,
        ),
        "application/json",
    )
    order = ("repo_ref_mismatch", "unpinned_ref")
    ipai_gate.fail_findings(
        [(c.error_class, c.message) for k in order for c in checks if c.error_class == k]
    )
    if not ipai_addons_manifest.repos:
        _nothing_declared(ipai_gate, ipai_addons_manifest, "no OCA repository")
    elif not checks:
        ipai_gate.error("repo_missing", "no repository is present to check (see oca.repos_present)")


@pytest.mark.gate("oca.must_have", severity="critical")
def test_must_have(ipai_gate: GateRecorder, ipai_stack_addons: StackAddons) -> None:
    findings, checked = check_must_have(ipai_stack_addons)
    ipai_gate.measure("must_have_checked", checked)
    ipai_gate.measure("must_have_ok", checked - len(findings))
    ipai_gate.blob(
        "must-have.json",
        json.dumps([f.__dict__ for f in findings], indent=2),
        "application/json",
    )
    order = ("must_have_not_found", "module_not_installable", "version_series_mismatch")
    ipai_gate.fail_findings(
        [(f.error_class, f.message) for k in order for f in findings if f.error_class == k],
        prefix=f"{checked - len(findings)}/{checked} ok; ",
    )
    if checked == 0:
        _nothing_declared(ipai_gate, ipai_stack_addons.manifest, "no must-have module")
