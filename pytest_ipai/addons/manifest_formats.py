"""Every file a stack uses to declare its addons, read into one model (docs/addons-manifest.md).

Stacks grow several generations of these: our JSON manifest, an addons-mounts JSON, a
git-aggregator YAML, a version 2 YAML manifest, ``.gitmodules``, another tool's lock, plain
module lists and pip ``odoo-addon-*`` requirements. Each reader keeps what its file really
declares (a module list names no repository; a lock names no path), so that
``addons.manifest_sync`` compares only what two files both say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..config.schema import first_problem
from ..core.errors import InputError
from ..core.gitstate import git_raw
from ..core.textfile import read_json, read_text, read_yaml

FORMATS = (
    "ipai",
    "mounts",
    "git-aggregator",
    "manifest-v2",
    "gitmodules",
    "lock",
    "modules",
    "requirements",
)
WITH_PATHS = ("ipai", "mounts", "git-aggregator", "gitmodules")
_MODULE = re.compile(r"^[A-Za-z0-9_]+$")
# pip names of packaged addons: odoo-addon-NAME (17.0 on), odooNN-addon-NAME (up to 16.0)
_ADDON_REQUIREMENT = re.compile(r"^odoo(\d*)[-_.]addons?[-_.]([A-Za-z0-9][A-Za-z0-9._-]*)", re.I)
_REQUIREMENT_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class DeclaredRepo:
    name: str
    rel_path: str | None = None  # inside the stack repository, posix, no ./
    url: str | None = None
    ref: str | None = None
    commit: str | None = None
    modules: tuple[str, ...] = ()


@dataclass
class DeclaredSource:
    file: Path
    format: str
    repos: dict[str, DeclaredRepo] | None = None  # None: the file declares no repository set
    modules: dict[str, list[str]] | None = None  # repository ("" = any) -> must-have modules
    series: str | None = None
    ipai_roots: list[str] = field(default_factory=list)
    oca_roots: list[str] = field(default_factory=list)

    def module_set(self) -> set[str] | None:
        if self.modules is None:
            return None
        return {m for modules in self.modules.values() for m in modules}


def relpath(value: str, where: str) -> str:
    """A repository-relative posix path without ``./`` or a trailing slash; refused when it
    leaves the repository."""
    path = PurePosixPath(value.strip())
    if path.is_absolute() or ".." in path.parts or str(path) in ("", "."):
        raise InputError(f"{where}: {value!r} is not a path inside the stack repository")
    return path.as_posix()


def detect_format(path: Path, data: Any = None) -> str | None:
    """The format a file is in, told from its name and parsed content; None when unsure."""
    name = path.name.lower()
    if name == ".gitmodules":
        return "gitmodules"
    if name.endswith((".txt", ".in")):
        return "requirements" if "requirement" in name else "modules"
    if not isinstance(data, dict):
        return None
    if "oca_repositories" in data:
        return {1: "ipai", 2: "manifest-v2"}.get(data.get("version"))  # type: ignore[arg-type]
    if isinstance(data.get("mounts"), list):
        return "mounts"
    if isinstance(data.get("repositories"), dict):
        return "lock"
    if data and all(isinstance(v, dict) and "remotes" in v for v in data.values()):
        return "git-aggregator"
    return None


def read_source(path: Path, fmt: str | None, stack_root: Path) -> DeclaredSource:
    """Read one declared file; a format that cannot be told, or a file that does not hold
    what its format says, is one InputError line naming the file and key."""
    chosen = fmt or detect_format(path)
    if chosen in _TEXT_READERS:
        return _TEXT_READERS[chosen](path, stack_root)
    if path.suffix.lower() == ".json":
        data = read_json(path, "addons manifest")
    else:
        data = read_yaml(path, "addons manifest")  # YAML reads JSON too
    chosen = chosen or detect_format(path, data)
    if chosen is None:
        raise InputError(
            f"{path}: cannot tell which addons-manifest format this is; set its format "
            f"({', '.join(FORMATS)})"
        )
    schema = _SCHEMAS[chosen]
    problem = first_problem(data, schema) if schema else None
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    return _DATA_READERS[chosen](path, data)


def _repos(path: Path, entries: list[tuple[str, DeclaredRepo]]) -> dict[str, DeclaredRepo]:
    repos: dict[str, DeclaredRepo] = {}
    for where, repo in entries:
        if repo.name in repos:
            raise InputError(f"{path}: {where}: repository '{repo.name}' is declared twice")
        repos[repo.name] = repo
    return repos


def _read_ipai(path: Path, data: dict[str, Any]) -> DeclaredSource:
    entries = []
    for index, entry in enumerate(data["oca_repositories"]):
        where = f"oca_repositories[{index}]"
        entries.append(
            (
                where,
                DeclaredRepo(
                    entry["name"],
                    relpath(entry["path"], f"{path}: {where}.path"),
                    entry.get("url"),
                    entry.get("ref"),
                ),
            )
        )
    roots = data.get("roots") or {}
    ipai = data.get("ipai") or {}
    ipai_roots = [ipai["root"]] if "root" in ipai else []
    if not ipai_roots and "ipai_root" in roots:
        ipai_roots = [roots["ipai_root"]]
    return DeclaredSource(
        path,
        "ipai",
        repos=_repos(path, entries),
        modules=dict(data["oca_must_have_modules"]) if "oca_must_have_modules" in data else None,
        series=data.get("series"),
        ipai_roots=[relpath(r, f"{path}: ipai.root") for r in ipai_roots],
        oca_roots=[relpath(v, f"{path}: roots.{k}") for k, v in roots.items() if "oca" in k],
    )


def _read_mounts(path: Path, data: dict[str, Any]) -> DeclaredSource:
    sources = {k: relpath(v, f"{path}: source.{k}") for k, v in (data.get("source") or {}).items()}
    ipai_roots = [v for k, v in sources.items() if "ipai" in k]
    entries = []
    extra_ipai = []
    for index, mount in enumerate(data["mounts"]):
        where = f"mounts[{index}]"
        rel = relpath(mount["source"], f"{path}: {where}.source")
        if any(rel == root or rel.startswith(root + "/") for root in ipai_roots):
            continue  # the stack's own addons, not a repository
        if not ipai_roots and "ipai" in PurePosixPath(rel).name.lower():
            extra_ipai.append(rel)
            continue
        entries.append((where, DeclaredRepo(PurePosixPath(rel).name, rel)))
    return DeclaredSource(
        path,
        "mounts",
        repos=_repos(path, entries),
        series=data.get("odoo_version"),
        ipai_roots=ipai_roots or extra_ipai,
        oca_roots=[v for k, v in sources.items() if "oca" in k],
    )


def _merge_spec(merge: Any) -> tuple[str, str]:
    if isinstance(merge, dict):
        return str(merge["remote"]), str(merge["ref"])
    remote, ref = str(merge).split(None, 1)
    return remote, ref.strip()


def _read_aggregator(path: Path, data: dict[str, Any]) -> DeclaredSource:
    entries = []
    for key, spec in data.items():
        rel = relpath(key, f"{path}: {key}")
        remote, ref = _merge_spec(spec["merges"][0])  # the base; later merges are patches
        url = spec["remotes"].get(remote)
        if url is None:
            raise InputError(f"{path}: {key}.merges[0]: remote '{remote}' is not in remotes")
        if ref.startswith("refs/heads/"):
            ref = ref.removeprefix("refs/heads/")
        entries.append((key, DeclaredRepo(PurePosixPath(rel).name, rel, url, ref)))
    return DeclaredSource(path, "git-aggregator", repos=_repos(path, entries))


def _read_manifest_v2(path: Path, data: dict[str, Any]) -> DeclaredSource:
    entries, modules = [], {}
    for index, entry in enumerate(data["oca_repositories"]):
        repo = DeclaredRepo(entry["repo"], None, entry.get("url"), entry.get("ref"))
        entries.append((f"oca_repositories[{index}]", repo))
        modules[repo.name] = list(entry.get("must_have") or [])
    ipai = data.get("ipai") or {}
    return DeclaredSource(
        path,
        "manifest-v2",
        repos=_repos(path, entries),
        modules=modules,
        series=data.get("odoo_version"),
        ipai_roots=[ipai["root"]] if "root" in ipai else [],
    )


def _read_lock(path: Path, data: dict[str, Any]) -> DeclaredSource:
    entries, modules = [], {}
    for name, entry in data["repositories"].items():
        ref = entry.get("branch") or entry.get("ref")
        repo = DeclaredRepo(name, None, entry.get("url"), ref, entry.get("commit"))
        entries.append((f"repositories.{name}", repo))
        if "modules" in entry:
            modules[name] = list(entry["modules"])
    return DeclaredSource(
        path, "lock", repos=_repos(path, entries), modules=modules if modules else None
    )


def _read_gitmodules(path: Path, stack_root: Path) -> DeclaredSource:
    """``.gitmodules`` read by git itself (``git config --file``): its quoting and
    continuation rules are git's, not an INI parser's."""
    read_text(path, "gitmodules")  # the same refusals as every input: size, kind, encoding
    code, out = git_raw(path.parent, "config", "--file", str(path), "--null", "--list")
    if code != 0:
        raise InputError(f"{path}: git cannot read it as a config file")
    found: dict[str, dict[str, str]] = {}
    for item in out.split("\0"):
        key, _, value = item.partition("\n")
        if not key.startswith("submodule."):
            continue
        name, _, attribute = key.removeprefix("submodule.").rpartition(".")
        found.setdefault(name, {})[attribute] = value
    folder, top = path.parent.resolve(), stack_root.resolve()
    base = folder.relative_to(top).as_posix() if folder.is_relative_to(top) else "."
    entries = []
    for name, attrs in found.items():
        if "path" not in attrs:
            raise InputError(f'{path}: submodule "{name}": no path')
        where = f'submodule "{name}"'
        rel = relpath((PurePosixPath(base) / attrs["path"]).as_posix(), f"{path}: {where}.path")
        repo = DeclaredRepo(PurePosixPath(rel).name, rel, attrs.get("url"), attrs.get("branch"))
        entries.append((where, repo))
    return DeclaredSource(path, "gitmodules", repos=_repos(path, entries))


def _lines(path: Path) -> list[tuple[int, str]]:
    text = read_text(path, "module list")
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append((number, line))
    return out


def _read_modules(path: Path, stack_root: Path) -> DeclaredSource:
    modules = []
    for number, line in _lines(path):
        if not _MODULE.match(line):
            raise InputError(f"{path}:{number}: not a module technical name")
        modules.append(line)
    return DeclaredSource(path, "modules", modules={"": modules})


def _read_requirements(path: Path, stack_root: Path) -> DeclaredSource:
    """pip requirement lines; only packaged Odoo addons count (``odoo-addon-queue-job`` is
    the module ``queue_job``), and options (``-r``, ``--hash``) are not requirements."""
    modules, series = [], None
    for number, line in _lines(path):
        if line.startswith("-"):
            continue
        name = _REQUIREMENT_NAME.match(line)
        if name is None:
            raise InputError(f"{path}:{number}: not a requirement line")
        addon = _ADDON_REQUIREMENT.match(name.group(1))
        if addon is None:
            continue
        modules.append(addon.group(2).replace("-", "_").replace(".", "_").lower())
        if addon.group(1) and series is None:  # odoo14-addon-...
            series = f"{addon.group(1)}.0"
    return DeclaredSource(path, "requirements", modules={"": modules}, series=series)


_SCHEMAS = {
    "ipai": "addons-manifest",
    "mounts": "mounts-manifest",
    "git-aggregator": "git-aggregator",
    "manifest-v2": "addons-manifest-v2",
    "lock": "foreign-lock",
}
_DATA_READERS = {
    "ipai": _read_ipai,
    "mounts": _read_mounts,
    "git-aggregator": _read_aggregator,
    "manifest-v2": _read_manifest_v2,
    "lock": _read_lock,
}
_TEXT_READERS = {
    "gitmodules": _read_gitmodules,
    "modules": _read_modules,
    "requirements": _read_requirements,
}
