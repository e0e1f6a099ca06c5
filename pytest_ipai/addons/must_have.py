"""Must-have modules: each is in the repository the manifest lists it under, installable, and
versioned for the series. When one is not where it should be, say where it is, if anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.gitstate import path_fate, refs_with_path
from .manifest_file import ManifestProblem
from .stack import StackAddons
from .versions import version_problem


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
        p.file.parent.name if p.file.name == "__manifest__.py" else p.file.name: p
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
            if repo_name == "":  # a plain module list: any folder of addons_path will do
                findings += _anywhere(stack, module)
                continue
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
            problem = broken.get(module)
            if addon is None and problem is not None and problem.error_class == "version_invalid":
                findings.append(
                    Finding(
                        repo_name,
                        module,
                        "version_series_mismatch",
                        f"{module} ({repo.rel_path}/{module}): {problem.message}",
                    )
                )
            elif addon is None:
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
                            problem,
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
            elif (why := version_problem(addon.version, series)) is not None:
                findings.append(
                    Finding(
                        repo_name,
                        module,
                        "version_series_mismatch",
                        f"{module} ({repo.rel_path}/{module}): {why}",
                    )
                )
    return findings, checked


def _anywhere(stack: StackAddons, module: str) -> list[Finding]:
    addon = stack.tree.addons.get(module)
    if addon is None:
        problem = next((p for p in stack.tree.problems if p.file.parent.name == module), None)
        why = f": {problem.error_class}: {problem.message}" if problem else ""
        return [
            Finding(
                "", module, "must_have_not_found", f"{module}: in no folder of addons_path{why}"
            )
        ]
    if not addon.installable:
        return [
            Finding(
                "",
                module,
                "module_not_installable",
                f"{module} ({addon.path}): 'installable' is False",
            )
        ]
    mismatch = version_problem(addon.version, stack.series)
    if mismatch is not None:
        return [
            Finding("", module, "version_series_mismatch", f"{module} ({addon.path}): {mismatch}")
        ]
    return []


def _not_found(
    module: str,
    repo: str,
    rel: str,
    repo_path: Path,
    series: str,
    places: list[str],
    problem: ManifestProblem | None,
) -> str:
    base = f"{module}: not in {repo} ({rel})"
    if not repo_path.exists():
        return f"{base}: the repository is missing (see oca.repos_present)"
    if problem is not None:
        return (
            f"{base} as a usable addon: {problem.error_class}: {problem.message} "
            "(see addons.manifests_valid)"
        )
    if places:
        return f"{base}; it lives in {', '.join(places)}: listed under the wrong repository"
    is_git = (repo_path / ".git").exists()
    fate = path_fate(repo_path, module) if is_git else None
    if fate is not None and not fate.startswith("the checkout is shallow"):
        return f"{base}: {fate}"
    others = [b for b in refs_with_path(repo_path, module) if b != series] if is_git else []
    if others:
        return f"{base} on {series}; present on {', '.join(others)}: not migrated to {series} yet"
    if fate is not None:
        return f"{base} nor anywhere in the tree; {fate}"
    history = "" if is_git else " (not a git checkout: no history to ask)"
    return (
        f"{base} nor anywhere in the tree: renamed, not migrated to {series}, "
        f"or from a repository outside the manifest{history}"
    )
