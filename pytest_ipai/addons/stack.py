"""The addons of a configured stack: its addons_path, its tree, its roots to install."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config.stack import StackConfig
from ..core.errors import ConfigError
from .addons_manifest import AddonsManifest
from .core import core_ce, core_ee
from .discovery import Addon, AddonsTree, discover
from .graph import Node, Resolution, resolve


def addons_path(config: StackConfig, manifest: AddonsManifest) -> list[Path]:
    """The environment's ``addons_path`` (else the stack's) if set, else each manifest
    repository in order, then the ipai roots."""
    configured = config.setting_paths("addons_path")
    if configured:
        return configured
    return [repo.path for repo in manifest.repos] + list(manifest.ipai_roots)


def series_of(config: StackConfig, manifest: AddonsManifest) -> str:
    series = config.series or manifest.series
    if series is None:
        raise ConfigError(
            f"{config.file}: stack.series: not set (nor 'series' in the addons manifest)"
        )
    return series


@dataclass
class StackAddons:
    manifest: AddonsManifest
    series: str
    tree: AddonsTree
    ipai_modules: list[str]
    must_have: list[str]

    def roots(self) -> list[str]:
        return sorted(set(self.must_have) | set(self.ipai_modules))

    def resolution(self) -> Resolution:
        nodes = {
            name: Node(name, a.depends, a.auto_install, a.installable)
            for name, a in self.tree.addons.items()
        }
        return resolve(self.roots(), nodes, core_ce(self.series), core_ee(self.series))

    def core_roots(self) -> list[Path]:
        """addons_path entries that are Odoo's own addons folders (mostly core names)."""
        core = core_ce(self.series) | core_ee(self.series)
        return [
            root
            for root, found in self.tree.by_root.items()
            if found and sum(name in core for name in found) * 2 > len(found)
        ]

    def shadowing_core(self) -> list[Addon]:
        """Addons outside Odoo's own folders that carry a core addon's name (a copied
        ``hr_expense``, say): Odoo loads whichever comes first on the path."""
        core = core_ce(self.series) | core_ee(self.series)
        own = set(self.core_roots())
        return [
            addon
            for root, found in self.tree.by_root.items()
            if root not in own
            for name, addon in sorted(found.items())
            if name in core
        ]

    def unresolved_anywhere(self) -> list[tuple[str, str]]:
        """(addon, dependency) for every installable addon of the tree, installed or not, whose
        dependency is neither in the tree nor in core: information, not a verdict."""
        core = core_ce(self.series) | core_ee(self.series)
        known = set(self.tree.addons) | core
        return [
            (name, dep)
            for name, addon in sorted(self.tree.addons.items())
            if addon.installable
            for dep in addon.depends
            if dep not in known
        ]


def load_stack_addons(config: StackConfig, manifest: AddonsManifest) -> StackAddons:
    series = series_of(config, manifest)
    tree = discover(addons_path(config, manifest), config.repo_root, series)
    ipai = sorted(
        {n for root in manifest.ipai_roots for n in tree.found_in(root) if n.startswith("ipai_")}
    )
    must_have = sorted({m for modules in manifest.must_have.values() for m in modules})
    return StackAddons(manifest, series, tree, ipai, must_have)
