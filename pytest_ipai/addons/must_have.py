"""Must-have modules: each is in the repository the manifest lists it under, installable, and
versioned for the series. When one is not where it should be, say where it is, if anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.gitstate import refs_with_path
from .stack import StackAddons
from .versions import series_mismatch


@dataclass(frozen=True)
class Finding:
    repo: str
    module: str
    error_class: str  # must_have_not_found | module_not_installable | version_series_mismatch
    message: str


def check_must_have(stack: StackAddons) -> tuple[list[Finding], int]:
    manifest, tree, series = stack.manifest, stack.tree, stack.series
    repos = {r.name: r for r in manifest.repos}
    repo_of_root = {r.path: r for r in manifest.repos}
    broken = {
        p.file.parent.name if p.file.name == "__manifest__.py" else p.file.name
        for p in tree.problems
    }
    findings: list[Finding] = []
    checked = 0

    def elsewhere(module: str, skip: object) -> list[str]:
        places = []
        for root, found in tree.by_root.items():
            if module in found and root is not skip:
                repo = repo_of_root.get(root)
                label = f"{repo.name} ({repo.rel_path})" if repo else str(root)
                places.append(label)
        return places

    for repo_name, modules in manifest.must_have.items():
        repo = repos.get(repo_name)
        for module in modules:
            checked += 1
            if repo is None:
                places = elsewhere(module, None)
                hint = f"; it lives in {', '.join(places)}" if places else ""
                findings.append(
                    Finding(
                        repo_name,
                        module,
                        "must_have_not_found",
                        f"{module}: listed under '{repo_name}', "
                        f"a repository the manifest does not have{hint}",
                    )
                )
                continue
            addon = tree.found_in(repo.path).get(module)
            if addon is None:
                findings.append(
                    Finding(
                        repo_name,
                        module,
                        "must_have_not_found",
                        _not_found(
                            module,
                            repo_name,
                            repo.rel_path,
                            repo.path,
                            series,
                            elsewhere(module, repo.path),
                            module in broken,
                        ),
                    )
                )
            elif not addon.installable:
                findings.append(
                    Finding(
                        repo_name,
                        module,
                        "module_not_installable",
                        f"{module} ({repo.rel_path}/{module}): 'installable' is False",
                    )
                )
            elif addon.version is None:
                findings.append(
                    Finding(
                        repo_name,
                        module,
                        "version_series_mismatch",
                        f"{module} ({repo.rel_path}/{module}): no version in its manifest",
                    )
                )
            elif (why := series_mismatch(addon.version, series)) is not None:
                findings.append(
                    Finding(
                        repo_name,
                        module,
                        "version_series_mismatch",
                        f"{module} ({repo.rel_path}/{module}): {why}",
                    )
                )
    return findings, checked


def _not_found(
    module: str, repo: str, rel: str, repo_path: Path, series: str, places: list[str], broken: bool
) -> str:
    base = f"{module}: not in {repo} ({rel})"
    if not repo_path.exists():
        return f"{base}: the repository is missing (see oca.repos_present)"
    if broken:
        return f"{base} as a usable addon: its manifest is invalid (see addons.manifests_valid)"
    if places:
        return f"{base}; it lives in {', '.join(places)}: listed under the wrong repository"
    branches = refs_with_path(repo_path, module) if (repo_path / ".git").exists() else []
    others = [b for b in branches if b != series]
    if others:
        return f"{base} on {series}; present on {', '.join(others)}: not migrated to {series} yet"
    return (
        f"{base} nor anywhere in the tree: renamed, not migrated to {series}, "
        "or from a repository outside the manifest"
    )
