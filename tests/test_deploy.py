"""ipai deploy / rollback / deploy-until-green, end to end on the container test bed: a real git
upstream, podman-compose running the Odoo stand-in, the machine's PostgreSQL, real backups."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests
from conftest import IPAI, run_ipai
from deploy_bed import DeployBed, check_consistent, git, rolled_back
from hostd_bed import TOKEN
from odoo_db import fingerprint

from pytest_ipai.config.schema import first_problem


def test_a_good_release_is_promoted_with_its_upgrade(site: DeployBed) -> None:
    base = site.state()["deployed_sha"]
    sha = site.release("ipai_core 1.0.1", files=site.bump("18.0.1.0.1"))
    proc = site.deploy(sha)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = check_consistent(site, sha)
    assert (result["overall"], result["verdict"], result["rule"]) == (
        "promoted",
        "promote",
        "all_passed",
    )
    assert result["upgrade"] == {
        "update": ["ipai_core"],
        "install": [],
        "ran": True,
        "exit_code": 0,
        "reasons": {"ipai_core": "database 18.0.1.0.0, disk 18.0.1.0.1"},
    }
    assert [s["name"] for s in result["steps"]] == [
        "preflight",
        "lock",
        "maintenance_on",
        "fetch",
        "checkout",
        "predeploy",
        "backup",
        "upgrade",  # a one-off run of the new code while the old release serves (maintenance)
        "compose_up",  # only then the new code serves
        "postdeploy",
        "decision",
    ]
    assert result["within_budget"] and result["budget_seconds"] == 300
    downtime = result["downtime"]
    assert downtime["maintenance_until"] and downtime["maintenance_since"]
    steps = {s["name"]: s for s in result["steps"]}
    assert downtime["old_release_stopped_at"] == steps["compose_up"]["started_at"]
    assert steps["upgrade"]["started_at"] < steps["compose_up"]["started_at"]
    state = site.state()
    assert (state["previous_sha"], state["last_known_good_sha"]) == (base, sha)
    assert state["maintenance"] is None and state["last_deploy_result"] == "promoted"
    assert site.db.query(
        "SELECT latest_version FROM ir_module_module WHERE name = 'ipai_core'"
    ) == [("18.0.1.0.1",)]
    assert f"deploy {result['run_id']}: promoted (promote, all_passed)" in proc.stdout


def test_a_release_whose_health_fails_is_rolled_back(site: DeployBed) -> None:
    good = site.state()["deployed_sha"]
    bad = site.release("slow start", flags=["--start-delay", "600"])
    result = rolled_back(site, site.deploy(bad), good, bad)
    assert result["rule"] == "trigger:health_failed" and result["error_class"] == "rollback_decided"
    assert (
        result["steps"][-2]["status"] == "skipped"
    )  # no upgrade ran: the database was not touched
    assert result["upgrade"]["ran"] is False and result["database_restored"] is False
    # The suite's own requests since the rollback reach the reverify min_samples (5).
    assert result["steps"][-1]["detail"].startswith("healthy: ")


def test_a_release_with_too_many_5xx_is_rolled_back(site: DeployBed) -> None:
    good = site.state()["deployed_sha"]
    # Some routes answer 5xx; the login page still renders (so health passes).
    bad = site.release("flaky", flags=["--error-share", "0.6", "--spare-login"])
    stop = threading.Event()

    def traffic() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                with contextlib.suppress(requests.RequestException):
                    session.get(f"http://127.0.0.1:{site.port}/web/action/load", timeout=2)
                time.sleep(0.02)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        proc = site.deploy(bad)
    finally:
        stop.set()
        thread.join(5)
    result = rolled_back(site, proc, good, bad)
    assert result["rule"] == "trigger:error_rate_exceeded"
    # Steady traffic: enough samples since the rollback, judged and passed.
    assert result["steps"][-1]["detail"].startswith("healthy: ")


def test_a_failed_module_upgrade_restores_the_database(site: DeployBed) -> None:
    good = site.state()["deployed_sha"]
    before = fingerprint(site.db.name)
    bad = site.release("broken migration", files={**site.bump("18.0.1.0.2"), **site.fault("fail")})
    result = rolled_back(site, site.deploy(bad), good, bad)
    assert result["error_class"] == "module_upgrade_failed" and result["step_failed"] == "upgrade"
    assert result["steps"][-2]["status"] == "pass"  # rollback_database ran
    # The state says what happened: the upgrade ran (and failed), the database was restored.
    assert result["upgrade"]["ran"] is True and result["upgrade"]["exit_code"] not in (0, None)
    assert result["database_restored"] is True
    state = site.state()
    assert (state["upgrade_ran"], state["database_restored"]) == (True, True)
    assert fingerprint(site.db.name) == before
    pack = Path(result["evidence"]["deploy-dev"])
    results = json.loads((pack / "results.json").read_text())["results"]
    upgrade = next(r for r in results if r["gate_id"] == "deploy.upgrade")
    assert (
        upgrade["error_class"] == "module_upgrade_failed"
        and upgrade["blobs"][0]["name"] == "upgrade output"
    )


def test_a_release_that_loses_its_database_gets_it_back(site: DeployBed) -> None:
    good = site.state()["deployed_sha"]
    before = fingerprint(site.db.name)
    bad = site.release(
        "drops the database", files={**site.bump("18.0.1.0.3"), **site.fault("drop_database")}
    )
    result = rolled_back(site, site.deploy(bad), good, bad)
    # Health stays green, as a real Odoo's does (db_server_status asks the server through the
    # postgres database); the database trigger decides, and the gates it stopped take no blame.
    decision = json.loads((Path(result["evidence"]["postdeploy"]) / "decision.json").read_text())
    assert decision["rule"] == "trigger:database_connection"
    gates = json.loads((Path(result["evidence"]["postdeploy"]) / "results.json").read_text())
    reach = next(r for r in gates["results"] if r["gate_id"] == "db.reachable")
    assert (reach["status"], reach["error_class"]) == ("fail", "db_unreachable")
    assert fingerprint(site.db.name) == before
    assert site.db.query(
        "SELECT latest_version FROM ir_module_module WHERE name = 'ipai_core'"
    ) == [("18.0.1.0.0",)]


def test_refusals_name_their_class(site: DeployBed) -> None:
    good = site.state()["deployed_sha"]
    proc = site.deploy(good[:12])
    assert proc.returncode == 2 and "invalid_ref" in proc.stdout
    (site.host / "odoo.conf").write_text("[options]\nworkers = 0\n")
    proc = site.deploy(good)
    assert proc.returncode == 2 and site.result()["error_class"] == "dirty_tree"
    git(site.host, "checkout", "--", "odoo.conf")
    git(site.host, "remote", "set-url", "--push", "origin", str(site.work))
    proc = site.deploy(good)
    result = site.result()
    assert proc.returncode == 2 and result["error_class"] == "push_capability_detected"
    assert "push URL of origin is usable" in result["message"]
    git(site.host, "remote", "set-url", "--push", "origin", "no_push")
    assert site.state()["deployed_sha"] == good  # a refusal changes nothing


def wait_for(path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_kill_9_mid_deploy_then_the_next_run_recovers(site: DeployBed) -> None:
    slow = site.release(
        "slow migration", files={**site.bump("18.0.1.0.4"), **site.fault("sleep 60")}
    )
    driver = subprocess.Popen(
        [*IPAI, "deploy", "--config", str(site.config), "--ref", slow],
        env=site.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(site.marker)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(10)
    os.kill(int(site.marker.read_text()), signal.SIGKILL)  # the orphaned upgrade
    state = site.state()  # whole, parseable, schema-valid: written atomically
    assert first_problem(state, "deploy-state") is None
    assert state["maintenance"] is not None

    site.no_fault()
    sha = site.release("migration fixed", files=site.bump("18.0.1.0.5"))
    proc = site.deploy(sha)  # the killed run's maintenance flag is named, not reused
    refused = site.result()
    assert proc.returncode == 2 and refused["error_class"] == "maintenance_held"
    assert f"set by run {state['maintenance']['run_id']}" in refused["message"]
    assert refused["stale_lock_cleared"]["pid"] == driver.pid  # its lock, though, was stale
    assert "stale_lock_cleared" in refused["steps"][1]["detail"]
    proc = site.deploy(sha, "--take-over-maintenance")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = check_consistent(site, sha)
    assert result["maintenance_taken_over"]["run_id"] == state["maintenance"]["run_id"]
    # The killed run's pack was published as interrupted, not lost.
    packs = [p for p in (site.host / "evidence").glob("*/deploy-dev*") if p.is_dir()]
    interrupted = [json.loads((p / "results.json").read_text())["interrupted"] for p in packs]
    assert interrupted.count(True) == 1


def test_concurrent_deploys_and_deploy_until_green(site: DeployBed) -> None:
    slow = site.release(
        "slow migration", files={**site.bump("18.0.1.0.6"), **site.fault("sleep 8")}
    )
    first = subprocess.Popen(
        [*IPAI, "deploy", "--config", str(site.config), "--ref", slow],
        env=site.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(site.marker)
    second = site.deploy(slow)
    assert second.returncode == 2
    refused = site.result()
    assert (refused["overall"], refused["error_class"], refused["retryable"]) == (
        "refused",
        "deploy_lock_held",
        True,
    )
    assert f"pid {first.pid}" in refused["message"]

    # Retries the joinable conflict until the first deploy is done, then deploys.
    green = site.deploy(
        slow,
        "--backoff",
        "1",
        "--max-backoff",
        "2",
        "--attempts",
        "40",
        command="deploy-until-green",
    )
    assert first.wait(120) == 0
    assert green.returncode == 0, green.stdout + green.stderr
    triage = json.loads((site.state_file.parent / "triage.json").read_text())
    assert triage["class"] is None and triage["overall"] == "promoted"
    assert (
        len(triage["attempts"]) >= 2 and triage["attempts"][0]["error_class"] == "deploy_lock_held"
    )

    # Any other class fails closed at once.
    proc = site.deploy("not-a-sha", "--backoff", "1", command="deploy-until-green")
    assert proc.returncode == 2
    triage = json.loads((site.state_file.parent / "triage.json").read_text())
    assert (triage["class"], triage["retryable"], len(triage["attempts"])) == (
        "invalid_ref",
        False,
        1,
    )
    assert triage["step"] == "preflight"


def test_rollback_on_demand_to_the_last_known_good(site: DeployBed) -> None:
    good = site.state()["deployed_sha"]
    newer = site.release("ipai_core 1.0.7", files=site.bump("18.0.1.0.7"))
    assert site.deploy(newer).returncode == 0
    assert site.db.query(
        "SELECT latest_version FROM ir_module_module WHERE name = 'ipai_core'"
    ) == [("18.0.1.0.7",)]
    proc = run_ipai("rollback", "--config", str(site.config), "--to", good, env=site.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = check_consistent(site, good)
    assert result["overall"] == "rolled_back" and result["backup_id"]
    assert site.state()["maintenance"] is None
    assert site.db.query(
        "SELECT latest_version FROM ir_module_module WHERE name = 'ipai_core'"
    ) == [("18.0.1.0.0",)]


def test_hostd_deploys_and_verifies_a_release(site: DeployBed) -> None:
    """The production path: deploy_and_verify through hostd; while that deploy holds
    maintenance mode, a doctor is held back unless it carries the deploy's run id."""
    hostd = site.hostd
    assert hostd is not None
    hostd.write_token()
    hostd.start()
    try:
        sha = site.release("ipai_core 1.0.8", files=site.bump("18.0.1.0.8"))
        answer = hostd.exec("deploy_and_verify", ref=sha)
        assert answer.status_code == 200, answer.text
        run_id = answer.json()["run_id"]
        flag = site.state_file.parent / "maintenance-dev.json"
        deadline = time.monotonic() + 120
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        holder = json.loads(flag.read_text())["run_id"]
        held = hostd.exec("doctor")
        assert held.status_code == 503 and held.json()["error_class"] == "MAINTENANCE_MODE"
        assert held.json()["active_run_id"] == holder
        assert hostd.exec("deploy_and_verify", ref=sha).json()["active_run_id"] == run_id
        record = hostd.wait(run_id, seconds=300)
        assert record["status"] == "passed" and record["exit_code"] == 0, record
        result = check_consistent(site, sha)
        assert result["run_id"] == holder and result["overall"] == "promoted"
        assert record["summary"] == "exit 0: promoted (promote, all_passed)"
        assert record["evidence"] == result["evidence"]["deploy-dev"]
        assert not flag.exists()
        doctor = hostd.wait(hostd.exec("doctor").json()["run_id"])  # maintenance is over
        assert doctor["status"] == "passed", doctor
    finally:
        hostd.kill()
    assert TOKEN not in hostd.log.read_text()
