"""The stack's addons as its manifest files declare them (docs/addons-manifest.md).

``stack.addons_manifest`` names one file or several, in any of the formats of
``manifest_formats``. The gates read one model: the repositories of the first file that names
repository paths, the must-have modules of the first file that names modules. The other files
are not merged in silently: ``addons.manifest_sync`` holds them to each other.

Repository paths are relative to the stack repository (``stack.repo`` in the config), which is
how the user's own scripts read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config.stack import ManifestSource, StackConfig
from ..core.errors import InputError
from .manifest_formats import WITH_PATHS, DeclaredSource, read_source


@dataclass(frozen=True)
class RepoSpec:
    name: str
    path: Path
    rel_path: str
    url: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class AddonsManifest:
    file: Path
    repos: list[RepoSpec]
    must_have: dict[str, list[str]] = field(default_factory=dict)  # repository ("" = any)
    series: str | None = None
    ipai_roots: list[Path] = field(default_factory=list)
    oca_roots: list[Path] = field(default_factory=list)
    sources: list[DeclaredSource] = field(default_factory=list)

    @property
    def ipai_root(self) -> Path | None:
        return self.ipai_roots[0] if self.ipai_roots else None


def load_addons_manifest(path: Path, stack_root: Path) -> AddonsManifest:
    """One manifest file, its format told from its name and content."""
    return manifest_from_sources([(ManifestSource(path, None, str(path)), stack_root)], stack_root)


def load_stack_manifest(config: StackConfig) -> AddonsManifest:
    """Every file ``stack.addons_manifest`` names, read into the one model; ``stack.ipai_roots``
    and ``stack.oca_roots`` replace the roots the files declare."""
    root = config.repo_root
    manifest = manifest_from_sources([(s, root) for s in config.manifest_sources], root)
    ipai = config.stack_paths("ipai_roots")
    oca = config.stack_paths("oca_roots")
    if ipai or oca:
        manifest = AddonsManifest(
            manifest.file,
            manifest.repos,
            manifest.must_have,
            manifest.series,
            ipai or manifest.ipai_roots,
            oca or manifest.oca_roots,
            manifest.sources,
        )
    return manifest


def manifest_from_sources(
    entries: list[tuple[ManifestSource, Path]], stack_root: Path
) -> AddonsManifest:
    sources = [read_source(entry.path, entry.format, root) for entry, root in entries]
    primary = next((s for s in sources if s.format in WITH_PATHS and s.repos is not None), None)
    if primary is None:
        first = entries[0][0]
        raise InputError(
            f"{first.key}: none of the declared files names repository paths; list one in a "
            f"format that does ({', '.join(WITH_PATHS)})"
        )
    repos = [
        RepoSpec(r.name, (stack_root / r.rel_path).resolve(), r.rel_path, r.url, r.ref)
        for r in (primary.repos or {}).values()
        if r.rel_path is not None
    ]
    with_modules = next((s for s in sources if s.modules is not None), None)
    ipai = next((s.ipai_roots for s in sources if s.ipai_roots), [])
    oca = primary.oca_roots or _parents(repos, stack_root)
    return AddonsManifest(
        file=primary.file,
        repos=repos,
        must_have=dict(with_modules.modules or {}) if with_modules else {},
        series=next((s.series for s in sources if s.series), None),
        ipai_roots=[(stack_root / r).resolve() for r in ipai],
        oca_roots=[(stack_root / r).resolve() for r in oca],
        sources=sources,
    )


def _parents(repos: list[RepoSpec], stack_root: Path) -> list[str]:
    """Where the checkouts live when no file says: each repository's parent folder, unless that
    is the stack repository itself (whose top holds everything)."""
    parents = dict.fromkeys(Path(r.rel_path).parent.as_posix() for r in repos)
    return [p for p in parents if p != "."]
