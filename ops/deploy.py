"""``ipai deploy --env ENV --ref SHA`` and ``ipai rollback --env ENV`` (DESIGN.md section 9).

Deploy: preflight (full SHA, clean tree, pull-only host, engine answers) -> single-flight lock
-> maintenance on -> fetch -> checkout (previous SHA kept) -> pre-deploy suite on that tree ->
verified backup -> compose up (allowlisted files, argv template) -> module upgrade (computed,
argv template) -> post-deploy suite with a decision -> promote, or roll back (previous SHA,
database restored when the upgrade ran, post-deploy suite again; maintenance stays on).

The pre-deploy suite runs after the checkout, not before as DESIGN.md lists it: its evidence
must be about this SHA's tree, and nothing is running from that tree yet. Failing it puts the
previous SHA back and ends the run ("aborted"); no container was touched.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_ipai.addons.addons_manifest import load_addons_manifest
from pytest_ipai.addons.migrations import ModuleRow
from pytest_ipai.addons.stack import load_stack_addons
from pytest_ipai.backup.create import create_backup
from pytest_ipai.backup.restore import restore_backup
from pytest_ipai.backup.store import Backup, exclusive, find, load
from pytest_ipai.backup.verify import verify_backup
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE, IpaiError
from pytest_ipai.core.gitstate import git, porcelain_status
from pytest_ipai.core.proc import run
from pytest_ipai.core.timeutil import iso, utc_now
from pytest_ipai.deploy.lock import DeployLock
from pytest_ipai.deploy.state import (
    DeployError,
    load_state,
    maintenance_off,
    maintenance_on,
    save_state,
)
from pytest_ipai.deploy.upgrade_plan import (
    UpgradePlan,
    depends_map,
    fill,
    module_list,
    plan_upgrade,
)
from pytest_ipai.evidence.publish import recover_orphans
from pytest_ipai.probes.database import connect, target_for
from pytest_ipai.probes.engine import EngineError, engine

from . import gate
from .deploy_run import DeployRun, state_dir

FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
DISABLED_PUSH = re.compile(r"^(|no_push|no-push|disabled|DISABLED|none|NONE)$")
URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]+:[^/@\s]+@", re.I)
DEPLOY_STEPS = [
    "preflight",
    "lock",
    "maintenance_on",
    "fetch",
    "checkout",
    "predeploy",
    "backup",
    "compose_up",
    "upgrade",
    "postdeploy",
    "decision",
]


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
    return argv + list(deploy.get("compose_up_args", ["up", "-d"]))


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
        manifest = load_addons_manifest(config.addons_manifest, config.repo_root)
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
    manifest = load_addons_manifest(config.addons_manifest, config.repo_root)
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
    argv = compose_argv(config, deploy)
    timeout = float(deploy.get("compose_timeout_minutes", 10)) * 60
    proc = run(argv, timeout=timeout, cwd=config.repo_root)
    record.blob(
        "compose output", f"$ {' '.join(argv)}\n{proc.stdout[-20000:]}\n{proc.stderr[-20000:]}"
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        raise DeployError("compose_failed", f"{argv[0]} exited {proc.returncode}: {last[0][:200]}")
    settle = float(deploy.get("settle_seconds", 0))
    if settle:
        time.sleep(settle)


def run_upgrade(
    config: StackConfig, deploy: dict[str, Any], plan: UpgradePlan, sha: str, record: Any
) -> None:
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
    proc = run(argv, timeout=timeout, cwd=config.repo_root)
    record.blob(
        "upgrade output", f"$ {' '.join(argv)}\n{proc.stdout[-50000:]}\n{proc.stderr[-50000:]}"
    )
    if proc.returncode != 0:
        raise DeployError(
            "module_upgrade_failed", f"the upgrade of {values['modules']} exited {proc.returncode}"
        )


def postdeploy(
    config: StackConfig, deploy: dict[str, Any], since: str
) -> tuple[Path | None, int, dict[str, Any] | None]:
    pack, code = gate.run_suite(
        "postdeploy",
        config,
        workers=int(deploy.get("postdeploy_workers", 2)),
        evidence_root=config.env.evidence_root,
        extra=["--ipai-decide", "--ipai-since", since],
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


def deploy(config: StackConfig, sha: str) -> tuple[dict[str, Any], int]:
    deploy_cfg = settings(config)
    recover_orphans(config.env.evidence_root)  # a killed run's pack is published, not lost
    run_ = DeployRun(config, "deploy", sha)
    run_.expect(DEPLOY_STEPS)
    state_file = config.env.path("state_file")
    assert state_file is not None
    lock = lock_for(config, deploy_cfg)
    flag = maintenance_path(config, deploy_cfg)
    repo = config.repo_root
    fields: dict[str, Any] = {
        "verdict": None,
        "rule": None,
        "backup_id": None,
        "stale_lock_cleared": None,
    }
    try:
        with run_.step("preflight"):
            preflight(config, sha, deploy_cfg)
        take_lock(run_, lock, fields)
    except DeployError as exc:
        return run_.finish("refused", EXIT_USAGE, exc, **fields), EXIT_USAGE
    try:
        return _deploy_locked(config, deploy_cfg, run_, sha, state_file, flag, repo, fields)
    finally:
        lock.release()


def _deploy_locked(
    config: StackConfig,
    deploy_cfg: dict[str, Any],
    run_: DeployRun,
    sha: str,
    state_file: Path,
    flag: Path,
    repo: Path,
    fields: dict[str, Any],
) -> tuple[dict[str, Any], int]:
    state = load_state(state_file)
    with run_.step("maintenance_on"):
        state["maintenance"] = maintenance_on(flag, run_.run_id, f"deploy {sha[:12]}")
        state["last_run_id"] = run_.run_id
        save_state(state_file, state)
    previous = run_.previous_sha = head(repo)
    plan = UpgradePlan()
    upgrade_ran = False
    backup: Backup | None = None
    try:
        with run_.step("fetch"):
            git_step(repo, "fetch", "--quiet", str(deploy_cfg.get("remote", "origin")))
            if git(repo, "cat-file", "-e", f"{sha}^{{commit}}")[0] != 0:
                raise DeployError("ref_not_found", f"{sha}: no such commit after fetching")
        with run_.step("checkout") as record:
            before = old_depends(config)
            git_step(repo, "reset", "--quiet", "--hard", sha)
            record.note(f"{previous[:12]} -> {sha[:12]}")
        with run_.step("predeploy") as record:
            pack, code = gate.run_suite(
                "predeploy", config, workers=2, evidence_root=config.env.evidence_root, extra=[]
            )
            run_.evidence["predeploy"] = str(pack) if pack else None
            if code != 0:
                raise DeployError(
                    "predeploy_failed",
                    f"the pre-deploy suite of {sha[:12]} did not pass (exit {code}); see {pack}",
                )
        with run_.step("backup") as record:
            backup = take_backup(config, run_, previous)
            fields["backup_id"] = backup.id
            record.note(f"backup {backup.id} verified")
    except DeployError as exc:
        # Nothing runs from the new tree yet: put the previous SHA back and stop.
        git(repo, "reset", "--quiet", "--hard", previous)
        maintenance_off(flag)
        state.update(maintenance=None, last_deploy_result="aborted", last_run_id=run_.run_id)
        save_state(state_file, state)
        return run_.finish("aborted", EXIT_GATE_FAILED, exc, **fields), EXIT_GATE_FAILED

    since = utc_now()
    failure: DeployError | None = None
    decision: dict[str, Any] | None = None
    try:
        with run_.step("compose_up") as record:
            compose_up(config, deploy_cfg, record)
        with run_.step("upgrade") as record:
            plan = upgrade_plan(config, before)
            fields["upgrade"] = {**plan.to_dict(), "ran": False}
            if plan.empty:
                record.status = "skipped"
                record.note("every module is at its disk version")
            else:
                upgrade_ran = True
                fields["upgrade"]["ran"] = True
                run_upgrade(config, deploy_cfg, plan, sha, record)
                record.note(f"update {plan.update or '-'}; install {plan.install or '-'}")
        with run_.step("postdeploy") as record:
            pack, code, decision = postdeploy(
                config, deploy_cfg, since.strftime("%Y-%m-%d %H:%M:%S")
            )
            run_.evidence["postdeploy"] = str(pack) if pack else None
            run_.decision = decision
            if decision is None:
                raise DeployError(
                    "postdeploy_no_decision",
                    f"the post-deploy suite wrote no decision (exit {code})",
                )
            record.note(f"exit {code}")
            if code != 0:
                record.status = "fail"
                record.error_class = "postdeploy_failed"
        with run_.step("decision") as record:
            record.note(f"{decision['verdict']} ({decision['rule']}): {decision.get('reason', '')}")
            fields.update(verdict=decision["verdict"], rule=decision["rule"])
    except DeployError as exc:
        failure = exc
        fields.update(verdict="rollback", rule=f"step_failed:{exc.error_class}")

    verdict = fields["verdict"]
    stamp = iso(since)
    if verdict == "promote":
        maintenance_off(flag)
        state.update(
            deployed_sha=sha,
            previous_sha=previous,
            last_known_good_sha=sha,
            last_deploy_timestamp=stamp,
            last_deploy_result="promoted",
            last_backup_id=fields["backup_id"],
            upgrade_ran=upgrade_ran,
            maintenance=None,
        )
        save_state(state_file, state)
        return run_.finish("promoted", EXIT_OK, None, **fields), EXIT_OK
    if verdict == "hold":
        state.update(
            deployed_sha=sha,
            previous_sha=previous,
            last_deploy_timestamp=stamp,
            last_deploy_result="held",
            last_backup_id=fields["backup_id"],
            upgrade_ran=upgrade_ran,
        )
        save_state(state_file, state)
        held = failure or DeployError(
            "deploy_held", f"decision hold ({fields['rule']}): a human decides"
        )
        return run_.finish("held", EXIT_GATE_FAILED, held, **fields), EXIT_GATE_FAILED
    # Roll back: previous code and images, the database when the upgrade touched it.
    if failure is None:
        failure = DeployError(
            "rollback_decided",
            f"decision rollback ({fields['rule']}): {(decision or {}).get('reason', '')}",
        )
    ok = roll_back(config, deploy_cfg, run_, previous, backup if upgrade_ran else None)
    state.update(
        deployed_sha=previous,
        previous_sha=sha,
        last_deploy_timestamp=iso(utc_now()),
        last_deploy_result="rolled_back" if ok else "rollback_failed",
        upgrade_ran=False,
    )
    save_state(state_file, state)  # maintenance stays on, owned by this run
    overall = "rolled_back" if ok else "rollback_failed"
    return run_.finish(overall, EXIT_GATE_FAILED, failure, **fields), EXIT_GATE_FAILED


def roll_back(
    config: StackConfig,
    deploy_cfg: dict[str, Any],
    run_: DeployRun,
    to_sha: str,
    backup: Backup | None,
) -> bool:
    """Previous code and containers, the database if ``backup`` is given, then verify again.
    Returns whether the stack verified healthy afterwards."""
    repo = config.repo_root
    try:
        with run_.step("rollback_code") as record:
            git_step(repo, "reset", "--quiet", "--hard", to_sha)
            record.note(f"back to {to_sha[:12]}")
        with run_.step("rollback_compose") as record:
            compose_up(config, deploy_cfg, record)
        if backup is not None:
            with run_.step("rollback_database") as record:
                record.note("; ".join(restore(config, backup)))
        else:
            run_.skip("rollback_database", "the upgrade did not run: the database was not touched")
        since = utc_now().strftime("%Y-%m-%d %H:%M:%S")
        with run_.step("reverify") as record:
            pack, code, _ = postdeploy(config, deploy_cfg, since)
            run_.evidence["reverify"] = str(pack) if pack else None
            record.note(f"post-deploy suite after the rollback: exit {code}")
            if code != 0:
                raise DeployError(
                    "reverify_failed", f"the stack is not healthy after the rollback; see {pack}"
                )
    except DeployError:
        return False
    return True


# --------------------------------------------------------------------------- rollback
def rollback(config: StackConfig, to_sha: str | None) -> tuple[dict[str, Any], int]:
    """``ipai rollback``: on demand, back to the last known good deploy (or ``to_sha``)."""
    deploy_cfg = settings(config)
    state_file = config.env.path("state_file")
    assert state_file is not None
    run_ = DeployRun(config, "rollback", None)
    run_.expect(
        ["preflight", "lock", "rollback_code", "rollback_compose", "rollback_database", "reverify"]
    )
    lock = lock_for(config, deploy_cfg)
    fields: dict[str, Any] = {
        "verdict": "rollback",
        "rule": "operator",
        "backup_id": None,
        "stale_lock_cleared": None,
    }
    try:
        with run_.step("preflight"):
            state = load_state(state_file)
            target = to_sha or state.get("last_known_good_sha")
            if not target:
                raise DeployError(
                    "no_known_good", f"{state_file}: no last known good deploy to go back to"
                )
            run_.sha = target
            run_.previous_sha = state.get("deployed_sha")
            preflight(config, target, deploy_cfg)
        take_lock(run_, lock, fields)
    except DeployError as exc:
        return run_.finish("refused", EXIT_USAGE, exc, **fields), EXIT_USAGE
    try:
        state = load_state(state_file)
        backup = None
        if (
            state.get("upgrade_ran")
            and state.get("last_backup_id")
            and state.get("deployed_sha") != target
        ):
            root = config.env.path("backup_root")
            assert root is not None
            backup = find(root, config.env.name, str(state["last_backup_id"]))
            fields["backup_id"] = backup.id
        ok = roll_back(config, deploy_cfg, run_, target, backup)
        state.update(
            deployed_sha=target,
            previous_sha=state.get("deployed_sha"),
            last_deploy_timestamp=iso(utc_now()),
            last_deploy_result="rolled_back" if ok else "rollback_failed",
            last_run_id=run_.run_id,
            upgrade_ran=False,
        )
        if ok:
            maintenance_off(maintenance_path(config, deploy_cfg))
            state["maintenance"] = None
        save_state(state_file, state)
        if ok:
            return run_.finish("rolled_back", EXIT_OK, None, **fields), EXIT_OK
        failure = DeployError("reverify_failed", "the stack is not healthy after the rollback")
        return run_.finish("rollback_failed", EXIT_GATE_FAILED, failure, **fields), EXIT_GATE_FAILED
    finally:
        lock.release()
