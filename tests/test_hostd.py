"""ipai hostd serve and ipai doctor: a real uvicorn server on loopback, real runs of the
post-deploy suite against the stand-in container, run records on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ROOT, run_ipai, set_env_keys
from hostd_bed import TOKEN, HostdServer, users_traffic
from podman_bed import podman


class Hostd(HostdServer):
    """hostd over the stack of ``stack_db``, with its own state file (maintenance flag) and the
    stand-in container as its Odoo."""

    def __init__(self, stack: Path, tmp: Path) -> None:
        super().__init__(stack / "ipai.toml", tmp)
        self.stack = stack
        self.container = ""
        self.odoo: Any = None  # the conftest ``odoo`` starter: replace the stand-in container
        state = tmp / "state" / "state.json"
        state.parent.mkdir()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 5))
        state.write_text(json.dumps({"last_deploy_timestamp": stamp}))
        self.maintenance = state.parent / "maintenance-dev.json"
        set_env_keys(stack, state_file=str(state), hostd=self.settings())

    def use_odoo(self, *flags: str) -> None:
        """Run the stand-in with ``flags`` as the stack's Odoo, and send it users' traffic so
        that the error-rate gate has enough requests to judge: a doctor of it passes."""
        started = self.odoo(*flags)
        self.container = started.name
        users_traffic(started.port)

    def slow_odoo(self) -> None:
        """A stand-in that answers every request after 3 s: the doctor still passes (the
        health probe waits 5 s), but its run lasts long enough to be joined or outlive hostd."""
        self.use_odoo("--hang", "3")


@pytest.fixture
def hostd(stack_db: Any, odoo: Any, tmp_path: Path) -> Iterator[Hostd]:
    stack, _ = stack_db
    from test_network_gate import allow

    server = Hostd(stack, tmp_path)
    try:
        server.odoo = odoo
        server.use_odoo()  # a healthy stand-in container: the doctor passes
        allow(stack, [])
        server.write_token()
        server.start()
        yield server
    finally:
        server.kill()  # also when starting it failed
    assert TOKEN not in server.log.read_text()  # the token never reaches the log


def test_auth_matrix(hostd: Hostd) -> None:
    def outcome(response: requests.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error_class"]

    assert outcome(hostd.exec("doctor", token="wrong")) == (403, "HOSTD_FORBIDDEN")
    assert outcome(hostd.exec("doctor", token=None)) == (403, "HOSTD_FORBIDDEN")
    assert outcome(hostd.exec("rm_rf", token="wrong")) == (403, "HOSTD_FORBIDDEN")  # auth first
    assert outcome(hostd.exec("rm_rf")) == (403, "ACTION_NOT_ALLOWED")
    assert outcome(hostd.run("20261202T000000Z-00000000", token="wrong")) == (
        403,
        "HOSTD_FORBIDDEN",
    )
    assert outcome(hostd.run("20261202T000000Z-00000000")) == (404, "RUN_NOT_FOUND")
    assert outcome(hostd.exec("deploy_and_verify", ref="main")) == (400, "INVALID_REQUEST")
    hostd.token_file.write_text("\n")
    assert outcome(hostd.exec("doctor")) == (503, "HOSTD_AUTH_MISSING")
    hostd.token_file.unlink()
    assert outcome(hostd.exec("doctor")) == (503, "HOSTD_AUTH_MISSING")
    assert outcome(hostd.run("20261202T000000Z-00000000")) == (503, "HOSTD_AUTH_MISSING")
    assert not list(hostd.runs.glob("*.json"))  # nothing ran


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:8787", "[::]:8787", "192.0.2.10:8787", "example.invalid:80"]
)
def test_refuses_to_bind_anything_but_loopback(demo_stack: Path, listen: str) -> None:
    proc = run_ipai("hostd", "serve", "--config", str(demo_stack / "ipai.toml"), "--listen", listen)
    assert proc.returncode == 2
    assert "hostd_bind_refused" in proc.stderr and proc.stderr.count("\n") == 1


def test_shipped_openapi_document_is_the_apps() -> None:
    proc = run_ipai("hostd", "openapi")
    assert proc.returncode == 0
    shipped = (ROOT / "schemas" / "hostd.openapi.json").read_text()
    assert json.loads(proc.stdout) == json.loads(shipped)


def test_malformed_requests_get_the_error_envelope(hostd: Hostd) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    cases = [
        ({"action": "tail_logs", "lines": "many"}, "body.lines: "),
        ({"ref": "0" * 40}, "body.action: Field required"),
        ({"action": "x" * 65}, "body.action: String should have at most 64 characters"),
    ]
    for body, message in cases:
        answer = requests.post(f"{hostd.url}/api/exec", json=body, headers=bearer, timeout=10)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_class"] == "INVALID_REQUEST"
        assert answer.json()["message"].startswith(message)
    answer = requests.post(f"{hostd.url}/api/exec", data=b"{not json", headers=bearer, timeout=10)
    assert answer.status_code == 400 and answer.json()["error_class"] == "INVALID_REQUEST"
    # The token is checked before the body is looked at, even one that cannot be parsed.
    for bad in ({"json": {"lines": "x"}}, {"data": b"{not json"}, {"files": {"f": b"x"}}):
        answer = requests.post(f"{hostd.url}/api/exec", timeout=10, **bad)
        assert answer.status_code == 403 and answer.json()["error_class"] == "HOSTD_FORBIDDEN"
    answer = requests.post(f"{hostd.url}/api/exec", files={"f": b"x"}, headers=bearer, timeout=10)
    assert answer.status_code == 400 and answer.json()["error_class"] == "INVALID_REQUEST"
    answer = requests.get(f"{hostd.url}/api/nothing", headers=bearer, timeout=10)
    assert answer.status_code == 404 and answer.json()["error_class"] == "NOT_FOUND"
    answer = requests.delete(f"{hostd.url}/api/runs", headers=bearer, timeout=10)
    assert answer.status_code == 405 and answer.json()["error_class"] == "METHOD_NOT_ALLOWED"
    served = requests.get(f"{hostd.url}/openapi.json", timeout=10).json()
    assert served == json.loads((ROOT / "schemas" / "hostd.openapi.json").read_text())
    assert requests.get(f"{hostd.url}/docs", timeout=10).status_code == 404
    assert not list(hostd.runs.glob("*.json"))


def test_schemathesis_finds_no_5xx_and_runs_nothing_without_the_token(hostd: Hostd) -> None:
    for headers in ([], ["-H", "Authorization: Bearer not-the-token"]):
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                str(ROOT / "schemas" / "hostd.openapi.json"),
                "--url",
                hostd.url,
                "--checks",
                "not_a_server_error,status_code_conformance,response_schema_conformance",
                "--max-examples",
                "40",
                "--seed",
                "7",
                "--request-timeout",
                "10",
                *headers,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=hostd.runs.parent,  # schemathesis keeps its crash cache under the cwd
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert not list(hostd.runs.glob("*.json"))  # no action ran


def test_twenty_concurrent_doctors_share_one_run(hostd: Hostd) -> None:
    hostd.slow_odoo()
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: hostd.exec("doctor"), range(20)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 19
    started = next(a.json() for a in answers if a.status_code == 200)
    joins = [a.json() for a in answers if a.status_code == 409]
    assert {j["error_class"] for j in joins} == {"ALREADY_RUNNING"}
    assert {j["active_run_id"] for j in joins} == {started["run_id"]}
    assert {j["started_at"] for j in joins} == {started["started_at"]}
    assert {j["action"] for j in joins} == {"doctor"}
    assert len(list(hostd.runs.glob("*.result.json"))) == 0  # still running: joined, not done
    record = hostd.wait(started["run_id"])
    assert record["status"] == "passed" and record["exit_code"] == 0, json.dumps(record, indent=1)
    assert record["summary"].startswith("exit 0: ") and " pass" in record["summary"]
    assert Path(record["evidence"], "results.json").is_file()
    assert len([p for p in hostd.runs.glob("*.json") if ".result." not in p.name]) == 1
    again = hostd.exec("doctor")  # the run is over: the next request starts a fresh one
    assert again.status_code == 200 and again.json()["run_id"] != started["run_id"]
    hostd.wait(again.json()["run_id"])


def test_failed_action_is_failed_in_its_record(hostd: Hostd) -> None:
    podman("stop", "-t", "1", hostd.container)
    answer = hostd.exec("doctor")
    assert answer.status_code == 200  # accepted; the outcome is in the record, not the HTTP code
    record = hostd.wait(answer.json()["run_id"])
    assert record["status"] == "failed" and record["exit_code"] == 1, record
    assert record["error_class"] == "action_failed"
    assert "fail" in record["summary"] and record["evidence"]
    results = json.loads(Path(record["evidence"], "results.json").read_text())
    failed = {r["gate_id"] for r in results["results"] if r["status"] in ("fail", "error")}
    assert "runtime.workers" in failed and "http.health" in failed


def test_a_restart_of_hostd_keeps_the_run(hostd: Hostd) -> None:
    hostd.slow_odoo()
    run_id = hostd.exec("doctor").json()["run_id"]
    hostd.kill()  # SIGKILL: no chance to tidy up
    hostd.start()
    joined = hostd.exec("doctor")
    assert joined.status_code == 409 and joined.json()["active_run_id"] == run_id
    record = hostd.wait(run_id)
    assert record["status"] == "passed", record
    # A run whose wrapper dies without reporting is reaped, not left running.
    hostd.kill()
    hostd.start()
    second = hostd.exec("doctor").json()["run_id"]
    pid = json.loads((hostd.runs / f"{second}.json").read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)
    record = hostd.wait(second, seconds=30)
    assert record["status"] == "error" and record["error_class"] == "reaped", record
    assert "died" in record["summary"]
    assert hostd.exec("doctor").status_code == 200  # the reaped run no longer blocks


def test_maintenance_mode_admits_only_the_deploy_that_holds_it(hostd: Hostd) -> None:
    hostd.maintenance.write_text(json.dumps({"run_id": "R1", "reason": "deploy abc"}))
    refused = hostd.exec("doctor")
    assert refused.status_code == 503
    assert refused.json()["error_class"] == "MAINTENANCE_MODE"
    assert refused.json()["active_run_id"] == "R1"
    other = hostd.exec("doctor", headers={"x-ipai-deploy-run": "R2"})
    assert other.status_code == 503
    assert not list(hostd.runs.glob("*.json"))
    assert hostd.exec("evidence_list").status_code == 200  # only the doctor is held back
    admitted = hostd.exec("doctor", headers={"x-ipai-deploy-run": "R1"})
    assert admitted.status_code == 200
    assert hostd.wait(admitted.json()["run_id"])["status"] == "passed"
    hostd.maintenance.unlink()


def test_the_other_actions(hostd: Hostd) -> None:
    audit = hostd.wait(hostd.exec("port_audit").json()["run_id"])
    assert audit["status"] == "passed" and audit["summary"] == "net.no_public_ports: pass", audit
    logs = hostd.wait(hostd.exec("tail_logs", lines=50).json()["run_id"])
    assert logs["status"] == "passed" and "odoo.service.server" in logs["output_tail"], logs
    assert hostd.exec("tail_logs", lines=5000).json()["error_class"] == "INVALID_REQUEST"
    listing = hostd.wait(hostd.exec("evidence_list").json()["run_id"])
    assert listing["status"] == "passed" and "postdeploy-dev" in listing["output_tail"], listing
    everything = requests.get(
        f"{hostd.url}/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).json()
    assert [r["action"] for r in everything] == ["evidence_list", "tail_logs", "port_audit"]


def test_doctor_client(hostd: Hostd) -> None:
    config = str(hostd.stack / "ipai.toml")
    own = run_ipai("doctor", "--config", config)
    assert own.returncode == 0 and "run_passed" in own.stdout, own.stdout + own.stderr
    hostd.slow_odoo()
    running = hostd.exec("doctor").json()["run_id"]
    refused = run_ipai("doctor", "--config", config)
    assert refused.returncode == 2 and "use --join" in refused.stdout
    timeout = run_ipai("doctor", "--config", config, "--join", "--wait", "0.2")
    assert timeout.returncode == 2 and "join_timeout" in timeout.stdout
    joined = run_ipai("doctor", "--config", config, "--join")
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert f"joined_run_passed: run {running}" in joined.stdout
    # A joined failure gets one fresh run, and only one.
    podman("stop", "-t", "1", hostd.container)
    failing = hostd.exec("doctor").json()["run_id"]
    rerun = run_ipai("doctor", "--config", config, "--join")
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    assert f"joined_run_failed: run {failing}" in rerun.stdout
    assert rerun.stdout.count("rerun: doctor run") == 1 and "rerun_failed" in rerun.stdout
    assert TOKEN not in own.stdout + joined.stdout + rerun.stdout + rerun.stderr


def test_runs_of_one_second_are_listed_newest_first(tmp_path: Path) -> None:
    """Run ids name the second only; their random tails must not decide the order."""
    from datetime import timedelta

    from ipai_ops.hostd_runs import RunStore, new_record

    from pytest_ipai.core.fsio import write_json_atomic
    from pytest_ipai.core.timeutil import utc_now

    store = RunStore(tmp_path / "runs", ttl_seconds=60)
    second = utc_now().replace(microsecond=0)
    records = [new_record(f"action{i}", second + timedelta(milliseconds=100 * i)) for i in range(6)]
    earlier = new_record("earlier", second - timedelta(seconds=1))
    for record in [*records, earlier]:
        finished = {**record, "status": "passed", "finished_at": record["started_at"]}
        write_json_atomic(store.folder / f"{record['run_id']}.json", finished)
    newest_first = [f"action{i}" for i in reversed(range(6))]
    assert [r["action"] for r in store.runs()] == [*newest_first, "earlier"]
    assert [r["action"] for r in store.runs(limit=2)] == newest_first[:2]
