"""The steps of ``ipai deploy`` and ``ipai rollback``, one named function each: settings,
preflight (full SHA, clean tree, pull-only host, engine answers), git, backup and restore,
compose up, the module upgrade, the post-deploy suite, the lock. ``ops/deploy.py`` runs them
in order and ``ops/deploy_run.py`` records each once."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_ipai.addons.addons_manifest import load_stack_manifest
from pytest_ipai.addons.migrations import ModuleRow
from pytest_ipai.addons.stack import load_stack_addons
from pytest_ipai.backup.create import create_backup
from pytest_ipai.backup.restore import restore_backup
from pytest_ipai.backup.store import Backup, exclusive, load
from pytest_ipai.backup.verify import verify_backup
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.gitstate import git, porcelain_status
from pytest_ipai.core.proc import run
from pytest_ipai.deploy.lock import DeployLock
from pytest_ipai.deploy.state import (
    DeployError,
)
from pytest_ipai.deploy.upgrade_plan import (
    UpgradePlan,
    depends_map,
    fill,
    module_list,
    plan_upgrade,
)
from pytest_ipai.probes.database import connect, target_for
from pytest_ipai.probes.engine import EngineError, engine
from pytest_ipai.rules.deployed import odoo_services

from . import gate
from .deploy_run import DeployRun, state_dir

FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
DISABLED_PUSH = re.compile(r"^(|no_push|no-push|disabled|DISABLED|none|NONE)$")
URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]+:[^/@\s]+@", re.I)


# --------------------------------------------------------------------------- settings
def settings(config: StackConfig) -> dict[str, Any]:
    deploy: dict[str, Any] = dict(config.env.raw.get("deploy") or {})
    where = f"environments.{config.env.name}.deploy"
    if "compose_command" not in deploy:
        raise IpaiError(f"{config.file}: {where}.compose_command: not set")
    if not config.env.raw.get("compose_files"):
        raise IpaiError(f"{config.file}: environments.{config.env.name}.compose_files: not set")
    if config.env.path("state_file") is None:
        raise IpaiError(f"{config.file}: environments.{config.env.name}.state_file: not set")
    if config.env.path("backup_root") is None:
        raise IpaiError(f"{config.file}: environments.{config.env.name}.backup_root: not set")
    return deploy


def compose_argv(config: StackConfig, deploy: dict[str, Any]) -> list[str]:
    return compose_base(config, deploy) + list(deploy.get("compose_up_args", ["up", "-d"]))


def compose_base(config: StackConfig, deploy: dict[str, Any]) -> list[str]:
    """The compose command with the project and the allowlisted files, before its verb."""
    argv = list(deploy["compose_command"])
    project = config.env.raw.get("compose_project")
    if project:
        argv += ["-p", str(project)]
    for name in config.env.raw["compose_files"]:
        # Only the allowlisted files, and only inside the stack repository.
        path = (config.repo_root / name).resolve()
        if not path.is_relative_to(config.repo_root.resolve()) or not path.is_file():
            raise DeployError(
                "compose_file_invalid", f"compose file {name}: not a file in the stack repository"
            )
        argv += ["-f", str(path)]
    return argv


def lock_for(config: StackConfig, deploy: dict[str, Any]) -> DeployLock:
    ttl = float(deploy.get("lock_ttl_minutes", 60)) * 60
    return DeployLock(state_dir(config) / f"deploy-{config.env.name}.lock", ttl)


def maintenance_path(config: StackConfig, deploy: dict[str, Any]) -> Path:
    name = deploy.get("maintenance_file", f"maintenance-{config.env.name}.json")
    return (state_dir(config) / str(name)).resolve()


# --------------------------------------------------------------------------- preflight
def push_signals(repo: Path, remote: str) -> list[str]:
    """Why this checkout could push: a usable push URL, a credential helper, credentials in the
    URL. A pull-only host has its push URL disabled (``git remote set-url --push origin no_push``)
    and no stored credentials."""
    signals = []
    code, url = git(repo, "remote", "get-url", remote)
    if code != 0:
        raise DeployError("remote_missing", f"{repo}: no git remote {remote!r}")
    code, push = git(repo, "remote", "get-url", "--push", remote)
    if code == 0 and not DISABLED_PUSH.match(push):
        usable = (
            "://" in push
            or re.match(r"^[^/\s]+@[^/\s]+:", push)
            or (repo / push).exists()
            or Path(push).exists()
        )
        if usable:
            signals.append(f"push URL of {remote} is usable ({_safe(push)})")
    code, helper = git(repo, "config", "--get-all", "credential.helper")
    if code == 0 and helper.strip():
        signals.append("a git credential helper is configured")
    for value in (url, push):
        if URL_CREDENTIALS.match(value):
            signals.append(f"the URL of {remote} carries credentials")
            break
    return signals


def _safe(url: str) -> str:
    return re.sub(r"//[^/@\s]+@", "//[credentials]@", url)


def preflight(config: StackConfig, sha: str, deploy: dict[str, Any]) -> None:
    if not FULL_SHA.match(sha):
        raise DeployError(
            "invalid_ref",
            f"--ref {sha!r}: not a full 40-hex commit SHA (branches and short SHAs move)",
        )
    repo = config.repo_root
    dirty = [line for line in porcelain_status(repo) if not line.startswith("??")]
    if dirty:
        raise DeployError(
            "dirty_tree", f"{repo}: {len(dirty)} uncommitted change(s), first: {dirty[0][3:]}"
        )
    signals = push_signals(repo, str(deploy.get("remote", "origin")))
    if signals:
        raise DeployError(
            "push_capability_detected", f"{repo}: this host can push: " + "; ".join(signals)
        )
    address = config.env.raw.get("engine_socket")
    if address:
        try:
            with engine(str(address), 10):
                pass
        except EngineError as exc:
            raise DeployError("executor_unreachable", exc.message, retryable=True) from None


# --------------------------------------------------------------------------- steps
def git_step(repo: Path, *args: str, timeout: float = 300) -> str:
    code, out = git(repo, *args, timeout=timeout)
    if code != 0:
        raise DeployError("git_failed", f"git {' '.join(args[:2])} failed in {repo}")
    return out


def head(repo: Path) -> str:
    return git_step(repo, "rev-parse", "HEAD")


def old_depends(config: StackConfig) -> dict[str, list[str]] | None:
    try:
        manifest = load_stack_manifest(config)
        return depends_map(load_stack_addons(config, manifest))
    except IpaiError:
        return None  # the old tree could not be read: plan from versions alone


def module_rows(config: StackConfig) -> list[ModuleRow]:
    try:
        with connect(target_for(config.env)) as conn:
            rows = conn.execute(
                "SELECT name, state, latest_version FROM ir_module_module"
            ).fetchall()
    except IpaiError as exc:
        raise DeployError("db_unreachable", exc.message) from None
    return [ModuleRow(*row) for row in rows]


def upgrade_plan(config: StackConfig, before: dict[str, list[str]] | None) -> UpgradePlan:
    manifest = load_stack_manifest(config)
    return plan_upgrade(module_rows(config), load_stack_addons(config, manifest), before)


def take_backup(config: StackConfig, run: DeployRun, deploy_sha: str) -> Backup:
    root = config.env.path("backup_root")
    assert root is not None
    target = target_for(config.env)
    with exclusive(root, config.env.name, f"deploy {run.run_id}"):
        path = create_backup(
            root, config.env.name, target, config.env.path("filestore"), deploy_sha
        )
    backup = load(path)
    outcome = verify_backup(backup, target)
    if outcome["result"] != "verified":
        raise DeployError(
            "backup_failed",
            f"backup {backup.id}: {outcome['result']}: {'; '.join(outcome['reasons'])[:300]}",
        )
    return backup


def restore(config: StackConfig, backup: Backup) -> list[str]:
    root = config.env.path("backup_root")
    assert root is not None
    target = target_for(config.env)

    def save_existing(name: str) -> Path:  # the broken database is kept, never lost
        return create_backup(
            root, config.env.name, replace(target, dbname=name), config.env.path("filestore")
        )

    with exclusive(root, config.env.name, "rollback restore"):
        return restore_backup(
            backup,
            target,
            target.dbname,
            config.env.path("filestore"),
            force=True,
            do_neutralize=False,
            backup_existing=save_existing,
        )


def compose_up(config: StackConfig, deploy: dict[str, Any], record: Any) -> None:
    """``compose up`` as configured; then the Odoo services are recreated, whatever
    ``compose_up_args`` says: compose recreates a container only when its definition changed,
    and Odoo reads its addons once, at start (a bind-mounted checkout would otherwise serve the
    previous release). Every deploy does it, a redeploy of the same commit too: what runs then
    provably started from what was deployed."""
    timeout = float(deploy.get("compose_timeout_minutes", 10)) * 60
    _compose(config, compose_argv(config, deploy), timeout, record, "compose output")
    odoo = odoo_services(dict(config.env.raw.get("services") or {}))
    if odoo:
        recreate = [*compose_base(config, deploy), "up", "-d", "--force-recreate", "--no-deps"]
        _compose(config, recreate + odoo, timeout, record, "compose recreate output")
        record.note(f"recreated {', '.join(odoo)}")
    settle = float(deploy.get("settle_seconds", 0))
    if settle:
        time.sleep(settle)


def _compose(config: StackConfig, argv: list[str], timeout: float, record: Any, name: str) -> None:
    proc = run(argv, timeout=timeout, cwd=config.repo_root)
    record.blob(name, f"$ {' '.join(argv)}\n{proc.stdout[-20000:]}\n{proc.stderr[-20000:]}")
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        raise DeployError("compose_failed", f"{argv[0]} exited {proc.returncode}: {last[0][:200]}")


def run_upgrade(
    config: StackConfig,
    deploy: dict[str, Any],
    plan: UpgradePlan,
    sha: str,
    record: Any,
    outcome: dict[str, Any],
) -> None:
    """Run the upgrade command; ``outcome`` gets ``attempted`` and ``exit_code`` as they become
    true, so what the state says is what happened even when it fails."""
    template = deploy.get("upgrade_command")
    wanted = ", ".join(plan.update + plan.install)
    if not template:
        raise DeployError(
            "upgrade_not_configured",
            f"environments.{config.env.name}.deploy.upgrade_command: not set; "
            f"modules need it: {wanted}",
        )
    values = {
        "database": target_for(config.env).dbname,
        "update": module_list(plan.update),
        "install": module_list(plan.install),
        "modules": module_list(plan.update + plan.install),
        "project": str(config.env.raw.get("compose_project", "")),
        "sha": sha,
    }
    argv = fill(template, values, f"environments.{config.env.name}.deploy.upgrade_command")
    timeout = float(deploy.get("upgrade_timeout_minutes", 30)) * 60
    outcome.update(attempted=True, exit_code=None)  # from here on the database may change
    proc = run(argv, timeout=timeout, cwd=config.repo_root)
    outcome["exit_code"] = proc.returncode
    record.blob(
        "upgrade output", f"$ {' '.join(argv)}\n{proc.stdout[-50000:]}\n{proc.stderr[-50000:]}"
    )
    if proc.returncode != 0:
        raise DeployError(
            "module_upgrade_failed", f"the upgrade of {values['modules']} exited {proc.returncode}"
        )


def postdeploy(
    config: StackConfig, deploy: dict[str, Any], since: str, layer: Path | None = None
) -> tuple[Path | None, int, dict[str, Any] | None]:
    """The post-deploy suite with a decision; ``layer``: a policy file over the environment's
    (a rollback's re-verification params)."""
    pack, code = gate.run_suite(
        "postdeploy",
        config,
        workers=int(deploy.get("postdeploy_workers", 2)),
        evidence_root=config.env.evidence_root,
        extra=["--ipai-decide", "--ipai-since", since]
        + (["--ipai-policy-layer", str(layer)] if layer else []),
    )
    decision = None
    if pack is not None and (pack / "decision.json").is_file():
        import json

        decision = json.loads((pack / "decision.json").read_text("utf-8"))
    return pack, code, decision


# --------------------------------------------------------------------------- deploy
def take_lock(run_: DeployRun, lock: DeployLock, fields: dict[str, Any]) -> None:
    """The ``lock`` step: take the single-flight lock, reporting a stale holder it replaced."""
    with run_.step("lock") as record:
        cleared = lock.acquire(run_.run_id)
        if cleared is not None:
            fields["stale_lock_cleared"] = {
                "run_id": cleared.run_id,
                "pid": cleared.pid,
                "started_at": cleared.started_at,
            }
            record.note(f"stale_lock_cleared: {cleared.describe()}")
