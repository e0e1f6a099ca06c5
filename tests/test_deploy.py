"""ipai deploy / rollback / deploy-until-green, end to end on the container test bed: a real git
upstream, podman-compose running the Odoo stand-in, the machine's PostgreSQL, real backups."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import IPAI, run_ipai, set_env_keys
from deploy_bed import CORE_MANIFEST, POLICY, DeployBed, git, make_deploy_bed
from hostd_bed import TOKEN
from odoo_db import drop_test_databases, fingerprint

from pytest_ipai.config.schema import first_problem


@pytest.fixture
def site(demo_stack: Path, bed: Any, tmp_path: Path) -> Any:
    deploy_bed = make_deploy_bed(demo_stack, bed, tmp_path)
    try:
        base = deploy_bed.release("deploy settings and the stand-in compose file")
        # First install on the host, by hand, as an operator would: the driver reads its
        # settings from the checkout it starts in.
        git(deploy_bed.host, "fetch", "-q", "origin")
        git(deploy_bed.host, "reset", "-q", "--hard", base)
        first = deploy_bed.deploy(base)
        assert first.returncode == 0, first.stdout + first.stderr
        yield deploy_bed
    finally:  # also when the first deploy failed: its containers and database go
        tear_down(deploy_bed)


def tear_down(deploy_bed: DeployBed) -> None:
    subprocess.run(
        [
            *IPAI[:1],
            "-m",
            "podman_compose",
            "-p",
            deploy_bed.project,
            "-f",
            str(deploy_bed.host / "deploy" / "compose.yaml"),
            "down",
            "-t",
            "1",
        ],
        env=deploy_bed.env(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    drop_test_databases(deploy_bed.db.name)
    deploy_bed.proxy.close()


def check_consistent(site: DeployBed, deployed: str) -> dict[str, Any]:
    state = site.state()
    assert first_problem(state, "deploy-state") is None
    assert state["deployed_sha"] == deployed
    assert git(site.host, "rev-parse", "HEAD") == deployed
    result = site.result()
    assert first_problem(result, "deploy-result") is None
    pack = Path(result["evidence"][f"{result['command']}-dev"])
    verify = run_ipai("evidence", "verify", str(pack))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads((pack / "deploy_result.json").read_text())["run_id"] == result["run_id"]
    return result


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


def rolled_back(
    site: DeployBed, proc: subprocess.CompletedProcess[str], good: str, bad: str
) -> dict[str, Any]:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = check_consistent(site, good)
    assert (result["overall"], result["sha"], result["previous_sha"]) == ("rolled_back", bad, good)
    state = site.state()
    assert state["last_known_good_sha"] == good and state["previous_sha"] == bad
    # Verified healthy again: maintenance ends (the bundled reverify.maintenance = "off").
    assert state["maintenance"] is None and not result["maintenance"]["on"]
    names = [s["name"] for s in result["steps"]]
    assert names[-4:] == ["rollback_code", "rollback_compose", "rollback_database", "reverify"]
    assert result["steps"][-1]["status"] == "pass"  # the old release verified healthy again
    return result


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


def test_a_rollback_that_saw_too_little_ends_as_the_policy_says(site: DeployBed) -> None:
    """Too little traffic since the rollback for http.error_rate (min_samples 1000 here): with
    the bundled reverify.inconclusive = "accept" the rollback waits, runs the suite again, and
    ends rolled_back; with "fail" nothing proves it healthy, so it ends rollback_failed and
    maintenance stays on, saying why."""
    quiet = POLICY + '[decision.reverify.params."http.error_rate"]\nmin_samples = 1000\n'
    good = site.release("quiet reverify", files={"deploy/policy.toml": quiet})
    assert site.deploy(good).returncode == 0, site.result()
    bad = site.release("slow start", flags=["--start-delay", "600"])
    result = rolled_back(site, site.deploy(bad), good, bad)
    assert "healthy; too little traffic to judge http.error_rate" in result["steps"][-1]["detail"]
    assert "reverify-2" in result["evidence"]  # it waited and ran the suite again
    strict = quiet.replace("[decision.reverify]\n", '[decision.reverify]\ninconclusive = "fail"\n')
    good = site.release("strict reverify", flags=[], files={"deploy/policy.toml": strict})
    assert site.deploy(good).returncode == 0, site.result()
    bad = site.release("slow start again", flags=["--start-delay", "601"])
    proc = site.deploy(bad)
    assert proc.returncode == 1
    result = check_consistent(site, good)
    assert result["overall"] == "rollback_failed"
    assert "too little traffic to judge http.error_rate" in result["steps"][-1]["detail"]
    assert result["maintenance"]["on"] and "did not verify" in result["maintenance"]["why"]
    state = site.state()
    assert state["maintenance"]["run_id"] == result["run_id"]
    assert "did not verify" in state["maintenance"]["reason"]
    # The flag that run left is another run's to the next deploy: named, never silently reused.
    fixed = site.release("fixed", flags=[])
    proc = site.deploy(fixed)
    assert proc.returncode == 2
    refused = site.result()
    assert (refused["overall"], refused["error_class"]) == ("refused", "maintenance_held")
    assert f"set by run {result['run_id']} 0h0" in refused["message"]
    assert "--take-over-maintenance" in refused["message"]
    assert site.state()["deployed_sha"] == good  # nothing was touched
    proc = site.deploy(fixed, "--take-over-maintenance")
    assert proc.returncode == 0, proc.stdout
    promoted = check_consistent(site, fixed)
    assert promoted["maintenance_taken_over"]["run_id"] == result["run_id"]
    assert "took over maintenance: set by run" in promoted["steps"][2]["detail"]
    assert site.state()["maintenance"] is None


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


def test_a_release_deploys_under_its_own_config_but_never_moves_the_hosts(
    site: DeployBed,
) -> None:
    """The release's ipai.toml governs its own deploy (here: its compose_up_args), and every
    step records the config's hash; a release that moves a host-owned setting is refused."""
    config = tomllib.loads((site.work / "ipai.toml").read_text())
    deploy = config["environments"]["dev"]["deploy"]
    set_env_keys(site.work, deploy={**deploy, "compose_up_args": ["up", "-d", "--remove-orphans"]})
    sha = site.release("compose up removes orphans")
    proc = site.deploy(sha)
    assert proc.returncode == 0, proc.stdout
    result = check_consistent(site, sha)
    pack = Path(result["evidence"]["deploy-dev"])
    steps = {r["gate_id"]: r for r in json.loads((pack / "results.json").read_text())["results"]}
    blob = next(b for b in steps["deploy.compose_up"]["blobs"] if b["name"] == "compose output")
    text = (pack / "blobs" / blob["sha256"]).read_text()
    assert "--remove-orphans" in text  # the release's own setting, in its own deploy
    hashes = {r["measurements"]["config_sha256"] for r in steps.values()}
    assert len(hashes) == 2  # the host's config before the checkout, the release's after it
    set_env_keys(site.work, backup_root="/tmp/elsewhere")
    bad = site.release("moves the backups")
    proc = site.deploy(bad)
    assert proc.returncode == 1
    result = check_consistent(site, sha)  # the previous release stays checked out
    assert (result["overall"], result["error_class"]) == ("aborted", "config_host_owned_changed")
    assert "environments.dev.backup_root" in result["message"]


def test_a_release_is_promoted_only_once_its_code_serves(site: DeployBed) -> None:
    """The code is bind-mounted from the checkout and read once at start (as Odoo reads its
    addons): a release that changes only the code leaves compose's definition as it was, so
    compose alone would keep the old process; the deploy recreates the Odoo service, and
    runtime.code_current proves the process started after the deploy."""
    assert _served_code(site) == "base"
    sha = site.release("new code only", files={"deploy/code-version": "v2\n"})
    proc = site.deploy(sha)
    assert proc.returncode == 0, proc.stdout
    result = check_consistent(site, sha)
    assert (
        "recreated odoo" in next(s for s in result["steps"] if s["name"] == "compose_up")["detail"]
    )
    assert _served_code(site) == "v2"  # the new code serves
    pack = Path(result["evidence"]["postdeploy"])
    gates = {r["gate_id"]: r for r in json.loads((pack / "results.json").read_text())["results"]}
    assert gates["runtime.code_current"]["status"] == "pass"


def _served_code(site: DeployBed) -> str:
    answer = requests.get(f"http://127.0.0.1:{site.port}/web/login", timeout=5)
    return answer.headers.get("X-Standin-Code", "")


def test_a_stack_without_oca_repositories_deploys(site: DeployBed) -> None:
    """Odoo CE plus in-house addons only: nothing declared is nothing required, and the whole
    deploy (pre-deploy suite, upgrade, post-deploy suite) promotes it."""
    manifest = site.work / "config" / "addons_manifest.oca_ipai.json"
    data = json.loads(manifest.read_text())
    data["oca_repositories"], data["oca_must_have_modules"] = [], {}
    core = site.work / CORE_MANIFEST
    core.write_text(core.read_text().replace("['queue_job', 'web_responsive']", "['web']")
                    .replace('["queue_job", "web_responsive"]', '["web"]'))  # fmt: skip
    config = (site.work / "ipai.toml").read_text()
    config = re.sub(r"addons_path = \[[^\]]*\]", 'addons_path = ["addons/ipai"]', config, count=1)
    sha = site.release("no OCA", files={
        "config/addons_manifest.oca_ipai.json": json.dumps(data), "ipai.toml": config,
    })  # fmt: skip
    # A stack that never had OCA modules installed.
    site.db.execute("DELETE FROM ir_module_module WHERE name IN ('queue_job', "
                    "'queue_job_cron_jobrunner', 'base_technical_user', 'web_responsive')")  # fmt: skip
    proc = site.deploy(sha)
    assert proc.returncode == 0, proc.stdout
    result = check_consistent(site, sha)
    assert result["overall"] == "promoted"
    pack = Path(result["evidence"]["predeploy"])
    gates = {r["gate_id"]: r for r in json.loads((pack / "results.json").read_text())["results"]}
    for gate in ("oca.repos_present", "oca.repos_ref", "oca.must_have"):
        assert gates[gate]["status"] == "pass"
        assert gates[gate]["measurements"]["nothing_declared"] is True
