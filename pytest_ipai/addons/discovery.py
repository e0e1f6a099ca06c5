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
from .versions import DEFAULT_VERSION


@dataclass(frozen=True)
class Addon:
    name: str
    path: Path
    root: Path
    depends: tuple[str, ...]
    version: str  # Odoo's default "1.0" when the manifest has none
    installable: bool
    auto_install: bool | tuple[str, ...]
    version_declared: bool = True

    @property
    def manifest_file(self) -> Path:
        return self.path / "__manifest__.py"


@dataclass
class AddonsTree:
    roots: list[Path]
    addons: dict[str, Addon] = field(default_factory=dict)
    shadowed: list[tuple[Addon, Addon]] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)  # blocking
    notices: list[ManifestProblem] = field(default_factory=list)  # tolerated by Odoo
    empty_roots: list[Path] = field(default_factory=list)  # on addons_path, no addon in it
    missing_roots: list[Path] = field(default_factory=list)
    by_root: dict[Path, dict[str, Addon]] = field(default_factory=dict)
    manifests_read: int = 0

    def found_in(self, root: Path) -> dict[str, Addon]:
        """Every addon in one addons_path entry, shadowed or not."""
        return self.by_root.get(root, {})


def _outside(path: Path, boundary: Path) -> str | None:
    """Why a symlinked addon folder or manifest may not be read: it leads out of the stack
    tree (``/proc/self/environ``, say) or nowhere (a loop)."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve()
    except (RuntimeError, OSError):
        return f"{path.name}: a symlink loop"
    if target != boundary and boundary not in target.parents:
        return f"{path.name}: symlink leaves the stack tree (to {target})"
    return None


def discover(roots: Iterable[Path], boundary: Path, series: str | None = None) -> AddonsTree:
    """Every addon along ``roots``; ``series`` enables the version rule of the manifests."""
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
        read_before = tree.manifests_read
        for name in names:
            folder = root / name
            manifest = folder / "__manifest__.py"
            outside = _outside(folder, boundary) or _outside(manifest, boundary)
            if outside is not None:
                tree.problems.append(ManifestProblem("manifest_invalid", folder, None, outside))
                continue
            if not manifest.is_file():
                continue
            tree.manifests_read += 1
            parsed = parse_manifest(manifest, series)
            tree.notices += parsed.notices
            if parsed.data is None or parsed.blocking:
                tree.problems += parsed.blocking
                continue
            if not (folder / "__init__.py").is_file() and _has_python(folder):
                tree.problems.append(
                    ManifestProblem(
                        "addon_not_package",
                        folder,
                        None,
                        "Python files but no __init__.py: Odoo installs it as an empty "
                        "namespace package and none of its models or controllers load",
                    )
                )
                continue
            data = parsed.data
            auto = data.get("auto_install", False)
            version = data.get("version")
            addon = Addon(
                name=name,
                path=folder,
                root=root,
                depends=tuple(data.get("depends", ())),
                version=version if isinstance(version, str) else DEFAULT_VERSION,
                installable=bool(data.get("installable", True)),
                auto_install=auto if isinstance(auto, bool) else tuple(auto),
                version_declared="version" in data,
            )
            found[name] = addon
            if name in tree.addons:
                tree.shadowed.append((tree.addons[name], addon))
            else:
                tree.addons[name] = addon
        if tree.manifests_read == read_before:
            tree.empty_roots.append(root)
    return tree


def _has_python(folder: Path) -> bool:
    """Whether the addon holds Python code besides its manifest (a data-only addon does not)."""
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "static"]
        if any(f.endswith(".py") and f != "__manifest__.py" for f in filenames):
            return True
    return False
