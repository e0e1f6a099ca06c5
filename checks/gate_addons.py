"""Addons gates: manifests parse, names are unique on addons_path, dependencies resolve."""

from __future__ import annotations

import json

import pytest

from pytest_ipai.addons.stack import StackAddons
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.paths import rel
from pytest_ipai.core.recorder import GateRecorder

pytestmark = [pytest.mark.predeploy]


# Most severe first: what breaks every database on the path, then what breaks installs.
MANIFEST_RANK = (
    "manifest_syntax_error",
    "manifest_invalid",
    "auto_install_not_in_depends",
    "version_invalid",
    "license_invalid",
    "depends_not_list",
    "addon_not_package",
    "addons_path_invalid",
)


@pytest.mark.gate("addons.manifests_valid", severity="critical")
def test_manifests_valid(
    ipai_gate: GateRecorder, ipai_stack_addons: StackAddons, ipai_config: StackConfig
) -> None:
    tree = ipai_stack_addons.tree
    base = ipai_config.repo_root
    ipai_gate.measure("manifests_read", tree.manifests_read)
    ipai_gate.measure("addons", sum(len(found) for found in tree.by_root.values()))
    problems = tree.problems
    ipai_gate.blob(
        "manifest-problems.json",
        json.dumps(
            [
                {
                    "class": p.error_class,
                    "blocking": p.blocking,
                    "where": p.where(base),
                    "message": p.message,
                }
                for p in [*problems, *tree.notices]
            ],
            indent=2,
        ),
        "application/json",
    )
    for notice in tree.notices:
        ipai_gate.notice(notice.error_class, f"{notice.where(base)}: {notice.message}")
    missing = ", ".join(rel(r, base) for r in tree.missing_roots)
    findings = [(p.error_class, f"{p.where(base)}: {p.error_class}: {p.message}") for p in problems]
    findings += [
        (
            "addons_path_invalid",
            f"{rel(root, base)}: on addons_path but holds 0 addons (an empty submodule?)",
        )
        for root in tree.empty_roots
    ]
    ipai_gate.fail_findings(
        findings,
        prefix=f"{len(findings)} problem(s)"
        + (f" (addons_path entries missing: {missing})" if missing else "")
        + ": ",
        rank=MANIFEST_RANK,
    )
    if missing:
        # Those folders' manifests could not be read: not a pass (oca.repos_present says why).
        ipai_gate.error("addons_path_missing", f"addons_path entries missing: {missing}")
    if tree.manifests_read == 0:
        ipai_gate.fail("manifest_invalid", "no addon found along addons_path")


@pytest.mark.gate("addons.unique_names")
def test_unique_names(
    ipai_gate: GateRecorder, ipai_stack_addons: StackAddons, ipai_config: StackConfig
) -> None:
    stack = ipai_stack_addons
    shadowed = stack.tree.shadowed
    shadowing = stack.shadowing_core()
    ipai_gate.measure("duplicates", len(shadowed))
    ipai_gate.measure("shadowing_core", len(shadowing))
    base = ipai_config.repo_root
    findings = [
        (
            "shadows_core",
            f"{addon.name}: {rel(addon.path, base)} carries the name of Odoo's own "
            f"{stack.series} addon: whichever comes first on addons_path replaces the other",
        )
        for addon in shadowing
    ]
    findings += [
        (
            "duplicate_module",
            f"{loser.name}: {rel(winner.path, base)} and {rel(loser.path, base)} "
            f"(Odoo loads {rel(winner.path, base)}, first in addons_path)",
        )
        for winner, loser in shadowed
    ]
    if findings:
        ipai_gate.blob("duplicates.txt", "\n".join(text for _, text in findings) + "\n")
    ipai_gate.fail_findings(findings)


@pytest.mark.gate("addons.dependencies", severity="critical")
def test_dependencies(ipai_gate: GateRecorder, ipai_stack_addons: StackAddons) -> None:
    stack = ipai_stack_addons
    resolution = stack.resolution()
    elsewhere = stack.unresolved_anywhere()
    not_installable = sorted(n for n, a in stack.tree.addons.items() if not a.installable)
    ipai_gate.measure("roots", len(stack.roots()))
    ipai_gate.measure("closure", len(resolution.closure))
    ipai_gate.measure("core_addons", len(resolution.core))
    ipai_gate.measure("auto_installed", len(resolution.auto_installed))
    for name, dep in elsewhere:
        ipai_gate.notice("tree_dependency_unresolved", f"{name} -> {dep} (not installed)")
    for name in not_installable:
        addon = stack.tree.addons[name]
        ipai_gate.notice("tree_not_installable", f"{name} (version {addon.version})")
    ipai_gate.blob(
        "dependencies.json",
        json.dumps(
            {
                "series": stack.series,
                "roots": stack.roots(),
                "closure": resolution.closure,
                "core": resolution.core,
                "auto_installed": resolution.auto_installed,
                "install_order": resolution.order,
                "missing": [
                    {"name": m.name, "chain": list(m.chain), "reason": m.reason}
                    for m in resolution.missing
                ],
                "cycles": resolution.cycles,
                "tree_unresolved": [{"addon": a, "depends": d} for a, d in elsewhere],
                "tree_not_installable": not_installable,
            },
            indent=2,
        ),
        "application/json",
    )
    findings = [("dependency_cycle", " -> ".join(c)) for c in resolution.cycles]
    findings += [
        ("core_ee_on_community", f"{m.path()} (Enterprise-only in {stack.series})")
        for m in resolution.missing
        if m.reason == "enterprise"
    ]
    findings += [
        ("unresolved_dependency", f"{m.path()} ({m.reason.replace('_', ' ')})")
        for m in resolution.missing
        if m.reason != "enterprise"
    ]
    ipai_gate.fail_findings(findings)
