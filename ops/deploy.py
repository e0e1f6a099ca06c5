"""``ipai deploy --env ENV --ref SHA`` and ``ipai rollback --env ENV`` (docs/deploy.md).

Deploy: preflight (full SHA, clean tree, pull-only host, engine answers) -> single-flight lock
-> maintenance on -> fetch -> checkout (previous SHA kept) -> pre-deploy suite on that tree ->
verified backup -> module upgrade (computed, argv template: a one-off run of the new code while
the old release still runs behind maintenance) -> compose up (allowlisted files, argv template;
the Odoo services recreated) -> post-deploy suite with a decision -> promote, or roll back
(previous SHA, database restored when the upgrade ran, re-verified by the [reverify] policy).

The pre-deploy suite runs after the checkout, not before it: its evidence
must be about this SHA's tree, and nothing is running from that tree yet. Failing it puts the
previous SHA back and ends the run ("aborted"); no container was touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_ipai.backup.store import Backup, find
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE
from pytest_ipai.core.gitstate import git
from pytest_ipai.core.timeutil import iso, utc_now
from pytest_ipai.deploy.state import (
    DeployError,
    describe_maintenance,
    load_state,
    maintenance_held,
    maintenance_off,
    maintenance_on,
    save_state,
)
from pytest_ipai.deploy.upgrade_plan import (
    UpgradePlan,
)
from pytest_ipai.evidence.publish import recover_orphans

from . import gate
from .deploy_config import release_config
from .deploy_reverify import after_rollback, reverify
from .deploy_run import DeployRun
from .deploy_steps import (
    compose_up,
    git_step,
    head,
    lock_for,
    maintenance_path,
    old_depends,
    postdeploy,
    preflight,
    restore,
    run_upgrade,
    settings,
    take_backup,
    take_lock,
    upgrade_plan,
)

DEPLOY_STEPS = [
    "preflight",
    "lock",
    "maintenance_on",
    "fetch",
    "checkout",
    "predeploy",
    "backup",
    "upgrade",
    "compose_up",
    "postdeploy",
    "decision",
]


def deploy(
    config: StackConfig, sha: str, take_over_maintenance: bool = False
) -> tuple[dict[str, Any], int]:
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
        return _deploy_locked(
            config, deploy_cfg, run_, sha, state_file, flag, repo, fields, take_over_maintenance
        )
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
    take_over: bool,
) -> tuple[dict[str, Any], int]:
    state = load_state(state_file)
    try:
        with run_.step("maintenance_on") as record:
            held = maintenance_held(flag)
            if held is not None and not take_over:
                raise DeployError(
                    "maintenance_held",
                    f"{flag}: maintenance is on, {describe_maintenance(held)}; "
                    "--take-over-maintenance takes it over",
                )
            if held is not None:
                fields["maintenance_taken_over"] = held
                record.note(f"took over maintenance: {describe_maintenance(held)}")
            state["maintenance"] = maintenance_on(flag, run_.run_id, f"deploy {sha[:12]}")
            maintenance_since = str(state["maintenance"]["since"])
            state["last_run_id"] = run_.run_id
            save_state(state_file, state)
    except DeployError as exc:
        return run_.finish("refused", EXIT_USAGE, exc, **fields), EXIT_USAGE
    previous = run_.previous_sha = head(repo)
    plan = UpgradePlan()
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
            # From here on the release's own config governs (ops/deploy_config.py).
            config = run_.config = release_config(config)
            deploy_cfg = settings(config)
        with run_.step("predeploy") as record:
            pack, code = gate.run_suite(
                "predeploy",
                config,
                workers=gate.default_workers("predeploy"),
                evidence_root=config.env.evidence_root,
                extra=[],
            )
            run_.evidence["predeploy"] = str(pack) if pack else None
            if code != 0:
                raise DeployError(
                    "predeploy_failed",
                    f"the pre-deploy suite of {sha[:12]} did not pass (exit {code}"
                    f"{gate.not_passed(pack)}); see {pack}",
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
        # The upgrade first, as a one-off process with the new code (upgrade_command), while the
        # old release's containers still run behind maintenance; only then are the Odoo
        # services recreated with the new code, which never serves an unupgraded database.
        with run_.step("upgrade") as record:
            plan = upgrade_plan(config, before)
            fields["upgrade"] = {**plan.to_dict(), "ran": False, "exit_code": None}
            if plan.empty:
                record.status = "skipped"
                record.note("every module is at its disk version")
            else:
                outcome: dict[str, Any] = {}
                try:
                    run_upgrade(config, deploy_cfg, plan, sha, record, outcome)
                finally:  # attempted counts, failed or not: the database may have changed
                    fields["upgrade"].update(
                        ran=bool(outcome.get("attempted")), exit_code=outcome.get("exit_code")
                    )
                record.note(f"update {plan.update or '-'}; install {plan.install or '-'}")
        with run_.step("compose_up") as record:
            fields["downtime"] = {"old_release_stopped_at": record.started_at}
            compose_up(config, deploy_cfg, record)
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
    upgrade_ran = bool((fields.get("upgrade") or {}).get("ran"))
    fields["database_restored"] = False
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
            database_restored=False,
            maintenance=None,
        )
        save_state(state_file, state)
        fields["maintenance"] = {"on": False, "why": "promoted"}
        _downtime(fields, maintenance_since)
        return run_.finish("promoted", EXIT_OK, None, **fields), EXIT_OK
    if verdict == "hold":
        state.update(
            deployed_sha=sha,
            previous_sha=previous,
            last_deploy_timestamp=stamp,
            last_deploy_result="held",
            last_backup_id=fields["backup_id"],
            upgrade_ran=upgrade_ran,
            database_restored=False,
        )
        save_state(state_file, state)
        fields["maintenance"] = {"on": True, "why": "held: a human decides"}
        _downtime(fields, maintenance_since)
        why = failure or DeployError(
            "deploy_held", f"decision hold ({fields['rule']}): a human decides"
        )
        return run_.finish("held", EXIT_GATE_FAILED, why, **fields), EXIT_GATE_FAILED
    # Roll back: previous code and images, the database when the upgrade touched it.
    if failure is None:
        failure = DeployError(
            "rollback_decided",
            f"decision rollback ({fields['rule']}): {(decision or {}).get('reason', '')}",
        )
    ok, restored = roll_back(config, deploy_cfg, run_, previous, backup if upgrade_ran else None)
    fields["database_restored"] = restored
    state.update(
        deployed_sha=previous,
        previous_sha=sha,
        last_deploy_timestamp=iso(utc_now()),
        last_deploy_result="rolled_back" if ok else "rollback_failed",
        upgrade_ran=upgrade_ran,
        database_restored=restored,
    )
    fields["maintenance"] = after_rollback(config, deploy_cfg, state, ok)
    _downtime(fields, maintenance_since)
    save_state(state_file, state)
    overall = "rolled_back" if ok else "rollback_failed"
    return run_.finish(overall, EXIT_GATE_FAILED, failure, **fields), EXIT_GATE_FAILED


def _downtime(fields: dict[str, Any], maintenance_since: str) -> None:
    """What the run cost in service: maintenance from this run's maintenance_on until it
    ended (None while it stays on); the old release served until compose_up recreated it."""
    on = fields.get("maintenance", {}).get("on", True)
    fields["downtime"] = {
        **fields.get("downtime", {}),
        "maintenance_since": maintenance_since,
        "maintenance_until": None if on else iso(utc_now()),
    }


def roll_back(
    config: StackConfig,
    deploy_cfg: dict[str, Any],
    run_: DeployRun,
    to_sha: str,
    backup: Backup | None,
) -> tuple[bool, bool]:
    """Previous code and containers, the database if ``backup`` is given, then verify again by
    the ``[reverify]`` policy. Returns (healthy afterwards, database restored)."""
    repo = config.repo_root
    restored = False
    # Before the containers are recreated: what runs must have started after this moment.
    since = utc_now().strftime("%Y-%m-%d %H:%M:%S")
    try:
        with run_.step("rollback_code") as record:
            git_step(repo, "reset", "--quiet", "--hard", to_sha)
            record.note(f"back to {to_sha[:12]}")
            config = run_.config = release_config(config)  # that release's own config again
            deploy_cfg = settings(config)
        with run_.step("rollback_compose") as record:
            compose_up(config, deploy_cfg, record)
        if backup is not None:
            with run_.step("rollback_database") as record:
                record.note("; ".join(restore(config, backup)))
            restored = True
        else:
            run_.skip("rollback_database", "the upgrade did not run: the database was not touched")
        with run_.step("reverify") as record:
            reverify(config, deploy_cfg, run_, record, since)
    except DeployError:
        return False, restored
    return True, restored


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
        if (  # the database holds an upgrade nobody has undone yet
            state.get("upgrade_ran")
            and not state.get("database_restored")
            and state.get("last_backup_id")
            and state.get("deployed_sha") != target
        ):
            root = config.env.path("backup_root")
            assert root is not None
            backup = find(root, config.env.name, str(state["last_backup_id"]))
            fields["backup_id"] = backup.id
        ok, restored = roll_back(config, deploy_cfg, run_, target, backup)
        fields["database_restored"] = restored
        state.update(
            deployed_sha=target,
            previous_sha=state.get("deployed_sha"),
            last_deploy_timestamp=iso(utc_now()),
            last_deploy_result="rolled_back" if ok else "rollback_failed",
            last_run_id=run_.run_id,
            database_restored=bool(state.get("database_restored")) or restored,
        )
        fields["maintenance"] = after_rollback(config, deploy_cfg, state, ok)
        save_state(state_file, state)
        if ok:
            return run_.finish("rolled_back", EXIT_OK, None, **fields), EXIT_OK
        failure = DeployError("reverify_failed", "the stack is not healthy after the rollback")
        return run_.finish("rollback_failed", EXIT_GATE_FAILED, failure, **fields), EXIT_GATE_FAILED
    finally:
        lock.release()
