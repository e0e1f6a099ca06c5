"""Find addons along ``addons_path`` as Odoo does: a folder holding ``__manifest__.py`` is an
addon; the first folder of a name, in ``addons_path`` order, is the one Odoo loads.

Streams with ``os.scandir`` and keeps one small record per addon (never file contents), so
memory stays flat however large the tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .manifest_file import ManifestProblem, parse_manifest


@dataclass(frozen=True)
class Addon:
    name: str
    path: Path
    root: Path
    depends: tuple[str, ...]
    version: str | None
    installable: bool
    auto_install: bool | tuple[str, ...]

    @property
    def manifest_file(self) -> Path:
        return self.path / "__manifest__.py"


@dataclass
class AddonsTree:
    roots: list[Path]
    addons: dict[str, Addon] = field(default_factory=dict)
    shadowed: list[tuple[Addon, Addon]] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    missing_roots: list[Path] = field(default_factory=list)
    by_root: dict[Path, dict[str, Addon]] = field(default_factory=dict)
    manifests_read: int = 0

    def found_in(self, root: Path) -> dict[str, Addon]:
        """Every addon in one addons_path entry, shadowed or not."""
        return self.by_root.get(root, {})


def discover(roots: Iterable[Path], boundary: Path) -> AddonsTree:
    tree = AddonsTree(roots=list(roots))
    boundary = boundary.resolve()
    for root in tree.roots:
        found: dict[str, Addon] = {}
        tree.by_root[root] = found
        if not root.is_dir():
            tree.missing_roots.append(root)
            continue
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries if not e.name.startswith("."))
        for name in names:
            folder = root / name
            manifest = folder / "__manifest__.py"
            if folder.is_symlink():
                target = folder.resolve()
                if target != boundary and boundary not in target.parents:
                    tree.problems.append(
                        ManifestProblem(
                            "manifest_invalid",
                            folder,
                            None,
                            f"symlink leaves the stack tree (to {target})",
                        )
                    )
                    continue
            if not manifest.is_file():
                continue
            tree.manifests_read += 1
            data = parse_manifest(manifest)
            if isinstance(data, ManifestProblem):
                tree.problems.append(data)
                continue
            if not (folder / "__init__.py").is_file():
                tree.problems.append(
                    ManifestProblem(
                        "addon_not_package", folder, None, "no __init__.py: Odoo cannot import it"
                    )
                )
                continue
            auto = data.get("auto_install", False)
            addon = Addon(
                name=name,
                path=folder,
                root=root,
                depends=tuple(data.get("depends", ())),
                version=data.get("version"),
                installable=data.get("installable", True),
                auto_install=auto if isinstance(auto, bool) else tuple(auto),
            )
            found[name] = addon
            if name in tree.addons:
                tree.shadowed.append((tree.addons[name], addon))
            else:
                tree.addons[name] = addon
    return tree
