"""Addons gates: manifests parse, names are unique on addons_path, dependencies resolve."""

from __future__ import annotations

import json

import pytest

from pytest_ipai.addons.stack import StackAddons
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.paths import rel
from pytest_ipai.core.recorder import GateRecorder

pytestmark = [pytest.mark.predeploy]


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
                {"class": p.error_class, "where": p.where(base), "message": p.message}
                for p in problems
            ],
            indent=2,
        ),
        "application/json",
    )
    missing = ", ".join(rel(r, base) for r in tree.missing_roots)
    order = ("manifest_syntax_error", "manifest_invalid", "addon_not_package")
    ipai_gate.fail_findings(
        [
            (p.error_class, f"{p.where(base)}: {p.error_class}: {p.message}")
            for klass in order
            for p in problems
            if p.error_class == klass
        ],
        prefix=f"{len(problems)} addon(s) unusable"
        + (f" (addons_path entries missing: {missing})" if missing else "")
        + ": ",
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
    shadowed = ipai_stack_addons.tree.shadowed
    ipai_gate.measure("duplicates", len(shadowed))
    if shadowed:
        base = ipai_config.repo_root
        lines = [
            f"{loser.name}: {rel(winner.path, base)} and {rel(loser.path, base)} "
            f"(Odoo loads {rel(winner.path, base)}, first in addons_path)"
            for winner, loser in shadowed
        ]
        ipai_gate.blob("duplicates.txt", "\n".join(lines) + "\n")
        ipai_gate.fail_findings([("duplicate_module", line) for line in lines])


@pytest.mark.gate("addons.dependencies", severity="critical")
def test_dependencies(ipai_gate: GateRecorder, ipai_stack_addons: StackAddons) -> None:
    stack = ipai_stack_addons
    resolution = stack.resolution()
    ipai_gate.measure("roots", len(stack.roots()))
    ipai_gate.measure("closure", len(resolution.closure))
    ipai_gate.measure("core_addons", len(resolution.core))
    ipai_gate.measure("auto_installed", len(resolution.auto_installed))
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
            },
            indent=2,
        ),
        "application/json",
    )
    findings = [
        ("unresolved_dependency", f"{m.path()} ({m.reason.replace('_', ' ')})")
        for m in resolution.missing
        if m.reason != "enterprise"
    ]
    findings += [
        ("core_ee_on_community", f"{m.path()} (Enterprise-only in {stack.series})")
        for m in resolution.missing
        if m.reason == "enterprise"
    ]
    findings += [("dependency_cycle", " -> ".join(c)) for c in resolution.cycles]
    ipai_gate.fail_findings(findings)
