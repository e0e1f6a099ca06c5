"""What a deploy proves on the container test bed, beyond promote and roll back: a rollback
judged by its own policy, a release under its own config, the new code serving, a stack
without OCA repositories."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import requests
from conftest import set_env_keys
from deploy_bed import CORE_MANIFEST, POLICY, DeployBed, check_consistent, rolled_back


def test_a_rollback_that_saw_too_little_ends_as_the_policy_says(site: DeployBed) -> None:
    """Too little traffic since the rollback for http.error_rate (min_samples 1000 here): with
    the bundled reverify.inconclusive = "accept" the rollback waits, runs the suite again, and
    ends rolled_back; with "fail" nothing proves it healthy, so it ends rollback_failed and
    maintenance stays on, saying why."""
    # Nothing will settle it: a short wait (two more runs) shows the waiting as well as 25 s.
    quiet = POLICY.replace("max_wait_seconds = 25", "max_wait_seconds = 12")
    quiet += '[decision.reverify.params."http.error_rate"]\nmin_samples = 1000\n'
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
        "config/ship_set.txt": "# Odoo CE and our own addons only\n",
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
