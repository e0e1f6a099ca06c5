"""Which modules a deploy must upgrade (``-u``) or install (``-i``), and the argv that does it.

Odoo does not notice by itself that code on disk is newer than the database (it logs nothing),
so the driver compares: an installed module whose disk version (adapted to the series)
differs from ``latest_version``; an installed module whose dependencies changed between the
previous and the new commit; a must-have or ``ipai_*`` module not installed yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..addons.migrations import ModuleRow
from ..addons.stack import StackAddons
from ..addons.versions import adapt_version
from ..core.errors import ConfigError

MODULE = re.compile(r"^[a-z0-9_]+$")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass
class UpgradePlan:
    update: list[str] = field(default_factory=list)
    install: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.update and not self.install

    def to_dict(self) -> dict[str, Any]:
        return {"update": self.update, "install": self.install, "reasons": self.reasons}


def plan_upgrade(
    rows: Sequence[ModuleRow],
    stack: StackAddons,
    old_depends: Mapping[str, Sequence[str]] | None = None,
) -> UpgradePlan:
    plan = UpgradePlan()
    by_name = {row.name: row for row in rows}
    addons = stack.tree.addons
    for row in sorted(rows, key=lambda r: r.name):
        addon = addons.get(row.name)
        if row.state != "installed" or addon is None:
            continue
        disk = adapt_version(addon.version, stack.series)  # "1.0" when none is declared
        if row.latest_version != disk:
            plan.update.append(row.name)
            plan.reasons[row.name] = f"database {row.latest_version or '(none)'}, disk {disk}"
            continue
        if old_depends is not None and row.name in old_depends:
            before, after = sorted(old_depends[row.name]), sorted(addon.depends)
            if before != after:
                plan.update.append(row.name)
                plan.reasons[row.name] = f"dependencies changed: {before} -> {after}"
    for name in stack.roots():
        current = by_name.get(name)
        if (current is None or current.state in ("uninstalled", "to install")) and name in addons:
            plan.install.append(name)
            plan.reasons[name] = "not installed yet"
    return plan


def depends_map(stack: StackAddons) -> dict[str, list[str]]:
    return {name: list(addon.depends) for name, addon in stack.tree.addons.items()}


def fill(template: Sequence[str], values: Mapping[str, str], where: str) -> list[str]:
    """Fill an argv template. Each element is one argument: a placeholder never splits or joins
    words. An element that is exactly ``{install}`` or ``{update}`` with nothing to do is dropped
    together with the option right before it (``-i``/``--init``, ``-u``/``--update``)."""
    argv: list[str] = []
    for element in template:
        names = PLACEHOLDER.findall(element)
        unknown = [n for n in names if n not in values]
        if unknown:
            raise ConfigError(f"{where}: unknown placeholder {{{unknown[0]}}} in {element!r}")
        if element in ("{install}", "{update}") and not values[element[1:-1]]:
            if argv and argv[-1].startswith("-"):
                argv.pop()
            continue
        argv.append(PLACEHOLDER.sub(lambda m: values[m.group(1)], element))
    if not argv:
        raise ConfigError(f"{where}: empty command")
    return argv


def module_list(names: Sequence[str]) -> str:
    for name in names:
        if not MODULE.match(name):
            raise ConfigError(f"module name {name!r}: not a technical name")
    return ",".join(names)
