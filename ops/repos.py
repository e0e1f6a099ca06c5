"""``ipai repos sync|lock|status``: the addons repositories of the manifest, with git argv only.

sync clones what is missing (at the lock's commit, else the declared ref, else the series
branch) and never touches a repository that is already there; lock pins every repository to
its full HEAD SHA; status shows where each one stands against the lock.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from pytest_ipai.addons.addons_manifest import AddonsManifest, RepoSpec
from pytest_ipai.addons.lockfile import foreign_pins, is_foreign, load_lock, write_lock
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, IpaiError
from pytest_ipai.core.gitstate import (
    GIT_SAFE_ENV,
    current_branch,
    head_and_branch,
    head_commit,
    porcelain_status,
    safe_git_url,
    toplevel,
)
from pytest_ipai.core.proc import run
from pytest_ipai.core.textfile import read_json

from . import tables

CLONE_TIMEOUT = 900.0


def _git(*args: str, cwd: Path | None = None) -> tuple[int, str]:
    proc = run(["git", *args], timeout=CLONE_TIMEOUT, cwd=cwd, env={**os.environ, **GIT_SAFE_ENV})
    return proc.returncode, (proc.stderr or proc.stdout).strip()


def _is_checkout(repo: RepoSpec) -> bool:
    top = toplevel(repo.path) if repo.path.is_dir() else None
    return top is not None and top == repo.path.resolve()


def _clone(repo: RepoSpec, config: StackConfig, ref: str | None, commit: str | None) -> str | None:
    """Clone one repository; the reason it failed, or None."""
    if not repo.url:
        return "no url in the manifest"
    try:
        url = safe_git_url(repo.url, config.repo_root)
    except IpaiError as exc:
        return exc.message
    repo.path.parent.mkdir(parents=True, exist_ok=True)
    args = ["clone", "--quiet"]
    if ref and not commit:
        args += ["--branch", ref]
    code, err = _git(*args, "--", url, str(repo.path))
    if code == 0 and commit:
        code, err = _git("-C", str(repo.path), "checkout", "--quiet", "--detach", commit)
    if code != 0:
        shutil.rmtree(repo.path, ignore_errors=True)  # no half clone left behind
        return err.splitlines()[-1] if err else f"git exited {code}"
    return None


def sync(config: StackConfig, manifest: AddonsManifest, series: str | None) -> int:
    lock = load_lock(config.lock_file) or {}
    cloned, present, failed = 0, 0, 0
    for repo in manifest.repos:
        if repo.path.exists():
            if _is_checkout(repo):
                present += 1
                dirty = " (local changes: left alone)" if porcelain_status(repo.path) else ""
                print(f"present  {repo.name:<24} {repo.rel_path}{dirty}")
            else:
                failed += 1
                print(f"FAILED   {repo.name:<24} {repo.rel_path}: exists but is not a git checkout")
            continue
        pinned = lock.get(repo.name, {})
        ref = pinned.get("ref") or repo.ref or series
        why = _clone(repo, config, ref, pinned.get("commit"))
        if why is None:
            cloned += 1
            at = pinned.get("commit", ref or "default branch")
            print(f"cloned   {repo.name:<24} {repo.rel_path} at {at}")
        else:
            failed += 1
            print(f"FAILED   {repo.name:<24} {repo.rel_path}: {why}")
    print(f"{cloned} cloned, {present} already present, {failed} failed")
    return EXIT_GATE_FAILED if failed else EXIT_OK


def lock(config: StackConfig, manifest: AddonsManifest, series: str | None) -> int:
    if config.lock_file is None:
        raise IpaiError(f"{config.file}: stack.lock_file: not set")
    entries: dict[str, dict[str, Any]] = {}
    problems = []
    for repo in manifest.repos:
        if not _is_checkout(repo):
            problems.append(f"{repo.name}: not present as a git checkout at {repo.rel_path}")
            continue
        if porcelain_status(repo.path):
            problems.append(f"{repo.name}: has local changes (commit or discard them first)")
            continue
        commit = head_commit(repo.path)
        if commit is None:
            problems.append(f"{repo.name}: no commit")
            continue
        ref = repo.ref or current_branch(repo.path) or series
        entries[repo.name] = {"url": repo.url, "ref": ref, "commit": commit}
    for problem in problems:
        print(f"FAILED   {problem}")
    if problems:
        print(f"lock not written: {len(problems)} repositories cannot be pinned")
        return EXIT_GATE_FAILED
    old = load_lock(config.lock_file) or {}
    write_lock(config.lock_file, entries)
    changed = sum(
        1 for name, e in entries.items() if old.get(name, {}).get("commit") != e["commit"]
    )
    print(f"{config.lock_file}: {len(entries)} repositories pinned ({changed} changed)")
    return EXIT_OK


def status(config: StackConfig, manifest: AddonsManifest) -> int:
    lock = load_lock(config.lock_file)
    rows = [("REPO", "PATH", "REF", "COMMIT", "DIRTY", "LOCK")]
    missing = 0
    for repo in manifest.repos:
        if not _is_checkout(repo):
            missing += 1
            rows.append((repo.name, repo.rel_path, repo.ref or "-", "-", "-", "missing"))
            continue
        commit, on_branch = head_and_branch(repo.path)  # one git call for both
        head = commit or "-"
        branch = on_branch or "(detached)"
        dirty = "yes" if porcelain_status(repo.path) else "no"
        pinned = (lock or {}).get(repo.name)
        if lock is None:
            drift = "no lock"
        elif pinned is None:
            drift = "not pinned"
        elif pinned["commit"] == head:
            drift = "ok"
        else:
            drift = f"drift (lock {pinned['commit'][:12]})"
        rows.append((repo.name, repo.rel_path, branch, head, dirty, drift))
    print("\n".join(tables.render(rows)))
    return EXIT_GATE_FAILED if missing else EXIT_OK


def import_lock(config: StackConfig, source: Path) -> int:
    """Write our lock once from another tool's lock: its pinned entries, the rest named."""
    if config.lock_file is None:
        raise IpaiError(f"{config.file}: stack.lock_file: not set")
    if source.resolve() == config.lock_file.resolve():
        raise IpaiError(f"{source}: is the lock file itself; ipai repos lock updates it in place")
    data = read_json(source, "lock file")
    if not is_foreign(data):
        raise IpaiError(f'{source}: not a repositories lock ({{"repositories": {{...}}}})')
    pins = foreign_pins(source, data)
    unpinned = sorted(set(data["repositories"]) - set(pins))
    write_lock(config.lock_file, pins)
    print(f"{config.lock_file}: {len(pins)} repositories imported from {source}")
    if unpinned:
        print(f"not pinned in {source.name} (run ipai repos lock): {', '.join(unpinned)}")
    return EXIT_OK
