"""Addons gates: manifests parse, names are unique on addons_path, dependencies resolve."""

from __future__ import annotations

import json

import pytest

from pytest_ipai.addons.stack import StackAddons
from pytest_ipai.recorder import GateRecorder

pytestmark = [pytest.mark.predeploy]


def _listing(items: list[str], limit: int = 5) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


@pytest.mark.gate("addons.manifests_valid", severity="critical")
def test_manifests_valid(ipai_gate: GateRecorder, ipai_stack_addons: StackAddons) -> None:
    tree = ipai_stack_addons.tree
    ipai_gate.measure("manifests_read", tree.manifests_read)
    ipai_gate.measure("addons", sum(len(found) for found in tree.by_root.values()))
    problems = tree.problems
    ipai_gate.blob(
        "manifest-problems.json",
        json.dumps([{"class": p.error_class, "where": p.where(), "message": p.message} for p in problems], indent=2),
        "application/json",
    )
    if tree.missing_roots:
        ipai_gate.error(
            "addons_path_missing",
            "addons_path entries missing: " + ", ".join(str(r) for r in tree.missing_roots),
        )
    if problems:
        first = problems[0].error_class
        ipai_gate.fail(
            first,
            f"{len(problems)} addon(s) unusable: "
            + _listing([f"{p.where()}: {p.error_class}: {p.message}" for p in problems]),
        )
    if tree.manifests_read == 0:
        ipai_gate.fail("manifest_invalid", "no addon found along addons_path")


@pytest.mark.gate("addons.unique_names")
def test_unique_names(ipai_gate: GateRecorder, ipai_stack_addons: StackAddons) -> None:
    shadowed = ipai_stack_addons.tree.shadowed
    ipai_gate.measure("duplicates", len(shadowed))
    if shadowed:
        lines = [
            f"{loser.name}: {winner.path} and {loser.path} (Odoo loads {winner.path}, first in addons_path)"
            for winner, loser in shadowed
        ]
        ipai_gate.blob("duplicates.txt", "\n".join(lines) + "\n")
        ipai_gate.fail("duplicate_module", _listing(lines))


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
                "missing": [{"name": m.name, "chain": list(m.chain), "reason": m.reason} for m in resolution.missing],
                "cycles": resolution.cycles,
            },
            indent=2,
        ),
        "application/json",
    )
    enterprise = [m for m in resolution.missing if m.reason == "enterprise"]
    unresolved = [m for m in resolution.missing if m.reason != "enterprise"]
    if unresolved:
        ipai_gate.fail(
            "unresolved_dependency",
            _listing([f"{m.path()} ({m.reason.replace('_', ' ')})" for m in unresolved]),
        )
    if enterprise:
        ipai_gate.fail(
            "core_ee_on_community",
            _listing([f"{m.path()} (Enterprise-only in {stack.series})" for m in enterprise]),
        )
    if resolution.cycles:
        ipai_gate.fail("dependency_cycle", _listing([" -> ".join(c) for c in resolution.cycles]))
