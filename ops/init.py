"""``ipai init [PATH]``: read a stack repository as it is and propose an ``ipai.toml``.

Nothing is changed unless ``--yes``: the preview is the config itself, each value with where it
came from, then what could not be decided. With ``--yes`` the config is written (never over
an existing one without ``--force``) and the tool's own folder is added to ``.gitignore``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_ipai.addons.manifest_formats import WITH_PATHS, read_source
from pytest_ipai.config.schema import first_problem
from pytest_ipai.core.errors import EXIT_OK, ConfigError, IpaiError
from pytest_ipai.core.fsio import write_bytes_atomic
from pytest_ipai.core.gitstate import git_raw, toplevel
from pytest_ipai.rules.compose import image_series
from pytest_ipai.rules.hygiene import OWN_IGNORE_LINES
from pytest_ipai.rules.pipeline import select

from .init_scan import PRODUCTION, Proposal, compose_sets, scan_environment

OWN_FOLDER = ".ipai"  # OWN_IGNORE_LINES names it
MAX_DEPTH = 3
_MANIFEST_NAME = re.compile(r"manifest|lock|aggregat|repos|oca|addons", re.I)
_MODULE_LIST_NAME = re.compile(r"ship|module|install|addons", re.I)
PREFERENCE = (
    "ipai",
    "git-aggregator",
    "gitmodules",
    "mounts",
    "manifest-v2",
    "lock",
    "modules",
    "requirements",
)


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.path).resolve()
    if not root.is_dir():
        raise ConfigError(f"{args.path}: not a directory")
    target = root / "ipai.toml"
    if args.yes and target.exists() and not args.force:
        raise ConfigError(f"{target}: exists; pass --force to replace it")
    proposal = propose(root, args.env)
    config = proposal_config(proposal)
    text = render(proposal, config)
    print(text, end="")
    problem = first_problem(config, "config")
    if problem is not None:  # a proposal we cannot stand behind is not written
        raise ConfigError(
            f"nothing written: the proposal is incomplete ({problem}); see 'Could not decide'"
        )
    if not args.yes:
        print(f"\n# Preview only, nothing written: `ipai init {args.path} --yes` writes it.")
        return EXIT_OK
    write_bytes_atomic(target, text.encode())
    ignored = _ignore_own_folder(root)
    print(f"\nwrote {target}" + (f"; added /{OWN_FOLDER}/ to .gitignore" if ignored else ""))
    return EXIT_OK


def repository_files(root: Path) -> list[str]:
    """Files git would commit (tracked, or new and not ignored), up to MAX_DEPTH folders deep;
    outside git, the folder's files to the same depth."""
    if toplevel(root) is not None:
        code, out = git_raw(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        if code != 0:
            raise IpaiError(f"{root}: git ls-files failed")
        names = [n for n in out.split("\0") if n]
    else:
        names = []
        for folder, dirs, files in os.walk(root):
            depth = len(Path(folder).relative_to(root).parts)
            dirs[:] = (
                []
                if depth + 1 >= MAX_DEPTH
                else [d for d in dirs if d not in (".git", "node_modules", ".venv")]
            )
            names += [(Path(folder) / f).relative_to(root).as_posix() for f in files]
    return sorted(n for n in names if len(PurePosixPath(n).parts) <= MAX_DEPTH)


def propose(root: Path, only_env: str | None) -> Proposal:
    proposal = Proposal()
    files = repository_files(root)
    sets = compose_sets(files)
    if only_env is not None:
        if only_env not in sets:
            found = ", ".join(sorted(sets)) or "none"
            raise ConfigError(f"--env {only_env}: no such environment in {root} ({found})")
        sets = {only_env: sets[only_env]}
    if not sets:
        proposal.undecided.append(
            "environments: no compose file found (compose.yaml, docker-compose*.yml)"
        )
    for name, compose in sets.items():
        try:
            scan_environment(root, name, compose, proposal)
        except IpaiError as exc:
            proposal.undecided.append(f"environments.{name}: {exc.message}")
    _manifests(root, files, proposal)
    _series(proposal, sets)
    pipeline = [name for name, _ in select(files, None)]
    if pipeline:
        proposal.put(
            proposal.stack,
            "pipeline_files",
            pipeline,
            "stack.pipeline_files",
            "found in the repository",
        )
    proposal.stack["name"] = root.name if re.match(r"^\S+$", root.name) else "stack"
    envs = sorted(proposal.environments)
    if envs:
        default = next((e for e in envs if e in PRODUCTION), envs[0])
        proposal.put(
            proposal.stack,
            "default_env",
            default,
            "stack.default_env",
            "the production environment" if default in PRODUCTION else "the first environment",
        )
    for name, env in proposal.environments.items():
        env["evidence_root"] = f"{OWN_FOLDER}/evidence"
        env["state_file"] = f"{OWN_FOLDER}/state/{name}.json"
        proposal.origins[f"environments.{name}.evidence_root"] = (
            f"default: in /{OWN_FOLDER}/, ignored by git"
        )
    _shared_conf(proposal)
    return proposal


def _manifests(root: Path, files: list[str], proposal: Proposal) -> None:
    found: list[tuple[str, str]] = []
    series_of: dict[str, str | None] = {}
    for name in files:
        path = PurePosixPath(name)
        suffix = path.suffix.lower()
        candidate = (
            path.name == ".gitmodules"
            or (
                suffix in (".json", ".yml", ".yaml")
                and _MANIFEST_NAME.search(path.name)
                and "compose" not in path.name
            )
            or (
                suffix == ".txt"
                and ("requirement" in path.name.lower() or _MODULE_LIST_NAME.search(path.name))
            )
        )
        if not candidate or name.startswith(".github/"):
            continue
        try:
            source = read_source(root / name, None, root)
        except IpaiError:
            continue  # not one of the formats: a package.json, an unrelated YAML
        if source.format in ("modules", "requirements") and not source.module_set():
            continue
        found.append((name, source.format))
        series_of[name] = source.series
        if source.format == "lock" and "lock_file" not in proposal.stack:
            proposal.put(
                proposal.stack, "lock_file", name, "stack.lock_file", f"{name}: a repositories lock"
            )
        if source.series and "series" not in proposal.stack:
            proposal.put(
                proposal.stack, "series", source.series, "stack.series", f"{name}: its Odoo version"
            )
    found.sort(key=lambda item: PREFERENCE.index(item[1]))
    for name, series in ((n, series_of.get(n)) for n, _ in found):
        if series and "series" not in proposal.stack:
            proposal.put(
                proposal.stack, "series", series, "stack.series", f"{name}: its Odoo version"
            )
    if not found or found[0][1] not in WITH_PATHS:
        proposal.undecided.append(
            "stack.addons_manifest: no file names the addons repositories' paths "
            "(an addons manifest, a git-aggregator file, .gitmodules); write one"
        )
        return
    entries = [{"path": name, "format": fmt} for name, fmt in found]
    proposal.put(
        proposal.stack,
        "addons_manifest",
        entries,
        "stack.addons_manifest",
        f"{len(entries)} file(s) declaring the addons",
    )


def _series(proposal: Proposal, sets: dict[str, list[str]]) -> None:
    """The series an environment's Odoo image tag names, when no manifest said it (the image
    as the scan found it in the merged compose files)."""
    if "series" in proposal.stack:
        return
    for name, image in proposal.odoo_images.items():
        series = image_series(image)
        if series:
            where = f"{sets[name][-1]}: image {image}"
            proposal.put(proposal.stack, "series", series, "stack.series", where)
            return
    proposal.undecided.append("stack.series: no manifest or Odoo image tag names the series")


def _shared_conf(proposal: Proposal) -> None:
    """An odoo.conf every environment shares is said once, at stack level."""
    confs = {env.get("odoo_conf") for env in proposal.environments.values()}
    if len(confs) == 1 and None not in confs and len(proposal.environments) > 1:
        conf = confs.pop()
        for env in proposal.environments.values():
            del env["odoo_conf"]
        proposal.put(
            proposal.stack, "odoo_conf", conf, "stack.odoo_conf", "every environment mounts it"
        )


def proposal_config(proposal: Proposal) -> dict[str, Any]:
    config: dict[str, Any] = {"stack": dict(proposal.stack)}
    if proposal.secrets_env:
        config["secrets"] = {"env": list(proposal.secrets_env)}
    config["environments"] = {k: dict(v) for k, v in sorted(proposal.environments.items())}
    return config


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value).__name__)


def _key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)


def render(proposal: Proposal, config: dict[str, Any]) -> str:
    lines = [
        "# ipai.toml proposed by `ipai init`: every value says where it came from.",
        "# Review it, then commit it (docs/getting-started.md).",
    ]
    for table, dotted, values in _tables(config):
        lines += ["", f"[{table}]"]
        for key, value in values.items():
            origin = proposal.origins.get(f"{dotted}.{key}")
            if origin:
                lines.append(f"# from: {origin}")
            if key == "addons_manifest" and isinstance(value, list):
                lines.append(f"{key} = [")
                lines += [f"  {_toml(v)}," for v in value]
                lines.append("]")
            else:
                lines.append(f"{_key(key)} = {_toml(value)}")
    if proposal.undecided:
        lines += ["", "# Could not decide (set these by hand if they matter to you):"]
        lines += [f"#   {item}" for item in proposal.undecided]
    return "\n".join(lines) + "\n"


def _tables(config: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = [("stack", "stack", config["stack"])]
    if "secrets" in config:
        out.append(("secrets", "secrets", config["secrets"]))
    for name, env in config["environments"].items():
        out.append((f"environments.{_key(name)}", f"environments.{name}", env))
    return out


def _ignore_own_folder(root: Path) -> bool:
    """Add the tool's folder to .gitignore unless git already ignores it; True when added."""
    probe = f"{OWN_FOLDER}/evidence/x"
    if toplevel(root) is not None and git_raw(root, "check-ignore", "-q", probe)[0] == 0:
        return False
    gitignore = root / ".gitignore"
    text = gitignore.read_text("utf-8") if gitignore.is_file() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    write_bytes_atomic(gitignore, (text + "\n".join(OWN_IGNORE_LINES) + "\n").encode())
    return True
