"""manifest.json: who ran what, where, when, on which code."""

from __future__ import annotations

import getpass
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import __version__
from ..addons.addons_manifest import load_stack_manifest
from ..config.stack import StackConfig
from ..core.errors import IpaiError
from ..core.gitstate import head_commit, map_repos, repo_state
from ..core.proc import run

MANIFEST_SCHEMA = "ipai/evidence-manifest/1"
_PACKAGES = ("pytest", "pytest-xdist", "pytest-timeout", "jsonschema", "manifestoo-core")


def tool_versions() -> dict[str, str]:
    versions = {"pytest-ipai": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        out = run(["git", "--version"], timeout=10).stdout.strip()
        versions["git"] = out.removeprefix("git version ")
    except IpaiError:
        pass
    return versions


def addons_repos(config: StackConfig) -> tuple[list[dict[str, Any]], str | None]:
    """Each manifest repository with its commit (None when absent or not a checkout)."""
    try:
        manifest = load_stack_manifest(config)
    except IpaiError as exc:
        return [], exc.message

    def commit_of(path: Path) -> str | None:
        if not (path / ".git").exists():
            return None
        try:
            return head_commit(path)
        except IpaiError:
            return None

    commits = map_repos(commit_of, [repo.path for repo in manifest.repos])
    repos = [
        {"name": repo.name, "path": repo.rel_path, "ref": repo.ref, "commit": commit}
        for repo, commit in zip(manifest.repos, commits, strict=True)
    ]
    return repos, None


def start_manifest(
    *,
    run_id: str,
    suite: str,
    scope: str,
    config: StackConfig,
    started_at: str,
    host: str,
    policy_sources: list[str],
) -> dict[str, Any]:
    repos, repos_error = addons_repos(config)
    manifest: dict[str, Any] = {
        "schema": MANIFEST_SCHEMA,
        "run_id": run_id,
        "suite": suite,
        "scope": scope,
        "env": config.env.name,
        "started_at": started_at,
        "finished_at": started_at,
        "interrupted": False,
        "host": host,
        "user": current_user(),
        "pid": os.getpid(),
        "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
        "config_file": str(config.file),
        "policy_sources": policy_sources,
        "tools": tool_versions(),
        "git": repo_state(config.repo_root),
        "addons_repos": repos,
        "image_digests": {},
    }
    if repos_error:
        manifest["addons_repos_error"] = repos_error
    return manifest


def current_user() -> str:
    """Who runs this (for the manifest, and for operator overrides)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
