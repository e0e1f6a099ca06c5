"""The user's addons manifest (docs/addons-manifest.md), read as-is and schema-checked.

Repository paths are relative to the stack repository (``stack.repo`` in the config), which is
how the user's own scripts read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.schema import first_problem
from ..core.errors import InputError
from ..core.textfile import read_json


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
    must_have: dict[str, list[str]] = field(default_factory=dict)
    series: str | None = None
    ipai_root: Path | None = None


def load_addons_manifest(path: Path, stack_root: Path) -> AddonsManifest:
    data: Any = read_json(path, "addons manifest")
    problem = first_problem(data, "addons-manifest")
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    repos = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data["oca_repositories"]):
        if entry["name"] in seen:
            raise InputError(
                f"{path}: oca_repositories[{index}].name: '{entry['name']}' is listed twice "
                f"(first at oca_repositories[{seen[entry['name']]}])"
            )
        seen[entry["name"]] = index
        repos.append(
            RepoSpec(
                name=entry["name"],
                path=(stack_root / entry["path"]).resolve(),
                rel_path=entry["path"],
                url=entry.get("url"),
                ref=entry.get("ref"),
            )
        )
    ipai = data.get("ipai", {})
    return AddonsManifest(
        file=path,
        repos=repos,
        must_have=data.get("oca_must_have_modules", {}),
        series=data.get("series"),
        ipai_root=(stack_root / ipai["root"]).resolve() if "root" in ipai else None,
    )
