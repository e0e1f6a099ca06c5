"""What ``ir_module_module`` says against what is on disk: nothing left
``to install`` / ``to upgrade`` / ``to remove``; every must-have and ``ipai_*`` module installed;
no installed module missing from the addons tree; each installed module's ``latest_version`` is
its disk version adapted to the series (Odoo logs nothing when code is newer than the database:
only a comparison shows it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .core import core_ce
from .stack import StackAddons
from .versions import adapt_version

PENDING = ("to install", "to upgrade", "to remove")


@dataclass(frozen=True)
class ModuleRow:
    name: str
    state: str
    latest_version: str | None


@dataclass(frozen=True)
class Finding:
    error_class: str
    message: str


def compare(rows: Iterable[ModuleRow], stack: StackAddons) -> list[Finding]:
    by_name = {row.name: row for row in rows}
    findings: list[Finding] = []
    for row in sorted(by_name.values(), key=lambda r: r.name):
        if row.state in PENDING:
            findings.append(Finding("module_state_pending", f"{row.name}: {row.state}"))
    for name in stack.roots():
        found = by_name.get(name)
        if found is None or found.state != "installed":
            state = found.state if found else "absent from ir_module_module"
            findings.append(Finding("module_not_installed", f"{name}: {state}"))
    core = core_ce(stack.series)
    addons = stack.tree.addons
    for row in sorted(by_name.values(), key=lambda r: r.name):
        if row.state != "installed":
            continue
        addon = addons.get(row.name)
        if addon is None:
            if row.name not in core:
                findings.append(
                    Finding(
                        "module_missing_on_disk",
                        f"{row.name}: installed in the database, in no folder of addons_path",
                    )
                )
            continue
        # No version in the manifest is Odoo's default 1.0, stored as <series>.1.0: compared too.
        expected = adapt_version(addon.version, stack.series)
        if row.latest_version != expected:
            findings.append(
                Finding(
                    "version_not_applied",
                    f"{row.name}: database {row.latest_version or '(none)'}, disk {expected} "
                    f"({addon.path.name} in {addon.root.name}): run the upgrade",
                )
            )
    return findings


ORDER = (
    "module_state_pending",
    "module_not_installed",
    "module_missing_on_disk",
    "version_not_applied",
)
