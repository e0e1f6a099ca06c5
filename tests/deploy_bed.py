"""A deployable stack for the driver tests: the demo stack with a pull-only host checkout, a
bare upstream, a work clone where releases are made, its Odoo stand-in run by podman-compose,
and its database in the machine's PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import IPAI, ROOT, run_ipai, seed_modules, set_env_keys
from hostd_bed import HostdServer
from loopback import free_port
from odoo_db import OdooDb, drop_test_databases, make_odoo_db
from podman_bed import podman_env, python_in_container, runtime_mounts
from routing_proxy import RoutingProxy

from pytest_ipai.config.schema import first_problem

UPGRADE = ROOT / "tests" / "standin" / "odoo_upgrade.py"
CORE_MANIFEST = "addons/ipai/ipai_core/__manifest__.py"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@dataclass
class DeployBed:
    host: Path  # the production checkout (pull-only)
    work: Path  # a developer's clone: releases are committed and pushed here
    db: OdooDb
    port: int
    project: str
    marker: Path
    image: str
    gevent_port: int
    proxy: RoutingProxy  # the public URL: /websocket to the gevent port, the rest to HTTP
    hostd: HostdServer | None = None  # set by make_deploy_bed; started by the tests that use it

    @property
    def config(self) -> Path:
        return self.host / "ipai.toml"

    @property
    def state_file(self) -> Path:
        return self.host.parent / "state" / "state.json"

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def result(self) -> dict[str, Any]:
        return json.loads((self.state_file.parent / "deploy_result.json").read_text())

    def release(
        self, message: str, *, flags: list[str] | None = None, files: dict[str, str] | None = None
    ) -> str:
        """Commit a release in the work clone and push it; return its SHA."""
        if flags is not None:
            self.write_compose(flags)
        for rel, text in (files or {}).items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", "origin", "HEAD")
        return git(self.work, "rev-parse", "HEAD")

    def bump(self, version: str) -> dict[str, str]:
        """Files of a release that changes ipai_core's version (so the upgrade must run)."""
        text = (self.work / CORE_MANIFEST).read_text()
        current = text.split('"version": "', 1)[1].split('"', 1)[0]
        return {CORE_MANIFEST: text.replace(current, version)}

    def fault(self, what: str) -> dict[str, str]:
        return {"addons/ipai/ipai_core/STANDIN_UPGRADE_FAULT": what + "\n"}

    def no_fault(self) -> None:
        (self.work / "addons/ipai/ipai_core/STANDIN_UPGRADE_FAULT").unlink(missing_ok=True)

    def write_compose(self, flags: list[str]) -> None:
        # deploy/code-version is the release's "addons code": bind-mounted from the checkout,
        # read by the stand-in once at start, as Odoo reads its addons.
        volumes = [f"{h}:{c}:ro" for h, c in runtime_mounts()] + ["./code-version:/srv/code:ro"]
        document = {
            "services": {
                "odoo": {
                    "image": self.image,
                    "network_mode": "host",
                    "volumes": volumes,
                    "environment": {"ODOO_STANDIN_DSN": self.db.dsn},
                    "command": [
                        python_in_container(),
                        "/app/odoo_standin.py",
                        "--port",
                        str(self.port),
                        "--workers",
                        "2",
                        "--gevent-port",
                        str(self.gevent_port),
                        "--db",
                        self.db.name,
                        "--code-file",
                        "/srv/code",
                        *flags,
                    ],
                }
            }
        }
        path = self.work / "deploy" / "compose.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    def deploy(
        self, sha: str, *args: str, command: str = "deploy"
    ) -> subprocess.CompletedProcess[str]:
        return run_ipai(command, "--config", str(self.config), "--ref", sha, *args, env=self.env())

    def env(self) -> dict[str, str]:
        return dict(podman_env(), DEMO_DSN=self.db.dsn, IPAI_TEST_MARKER=str(self.marker))


POLICY = """
suite = "predeploy"
[gates."compose.no_public_ports"]
# The test stack runs on the host network (the stand-in reaches the machine's PostgreSQL on
# loopback), which this gate rightly flags; it has tests of its own.
enabled = false
[gates."http.error_rate"]
params = { window_minutes = 10, min_samples = 1, max_rate = 0.05 }
[decision.reverify]
# The bundled reverify min_samples (5) stands; the wait for traffic is short in tests.
max_wait_seconds = 25
retry_seconds = 2
"""


def make_deploy_bed(demo_stack: Path, bed: Any, tmp_path: Path) -> DeployBed:
    root = demo_stack.parent
    upstream = root / "upstream" / "stack.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(demo_stack), str(upstream)], check=True, timeout=60
    )
    git(demo_stack, "remote", "add", "origin", str(upstream))
    git(demo_stack, "fetch", "-q", "origin")
    git(demo_stack, "remote", "set-url", "--push", "origin", "no_push")  # pull-only host
    work = root / "work"
    subprocess.run(["git", "clone", "-q", str(upstream), str(work)], check=True, timeout=60)
    git(work, "config", "user.email", "dev@example.invalid")
    git(work, "config", "user.name", "dev")
    db = make_odoo_db(tmp_path, partners=200, files=2)
    try:
        return _with_db(demo_stack, bed, tmp_path, work, db)
    except BaseException:
        drop_test_databases(db.name)  # a bed that could not be made leaves no database
        raise


def _with_db(demo_stack: Path, bed: Any, tmp_path: Path, work: Path, db: OdooDb) -> DeployBed:
    root = demo_stack.parent
    seed_modules(db)
    port, gevent_port = free_port(), free_port()
    deploy_bed = DeployBed(
        host=demo_stack,
        work=work,
        db=db,
        port=port,
        project=bed.project(tmp_path),
        marker=tmp_path / "upgrade-started",
        image=bed.image,
        gevent_port=gevent_port,
        proxy=RoutingProxy(port, gevent_port),
    )
    (root / "hostd").mkdir()
    deploy_bed.hostd = HostdServer(demo_stack / "ipai.toml", root / "hostd", env=deploy_bed.env())
    (work / "deploy").mkdir(exist_ok=True)
    (work / "deploy" / "code-version").write_text("base\n")
    deploy_bed.write_compose([])
    (work / "deploy" / "policy.toml").write_text(POLICY)
    set_env_keys(
        work,
        database=db.name,
        base_url=deploy_bed.proxy.url,
        longpolling_url=f"http://127.0.0.1:{deploy_bed.gevent_port}",
        engine_socket=bed.socket,
        compose_project=deploy_bed.project,
        services={"odoo": "odoo"},
        workers=2,
        log_source={"container": "odoo"},
        port_allowlist=[],  # this process's namespace: nothing public but what a test opens
        compose_files=["deploy/compose.yaml"],
        policy="deploy/policy.toml",
        state_file=str(deploy_bed.state_file),
        hostd=deploy_bed.hostd.settings(),
        backup_root=str(root / "backups"),
        deploy={
            "compose_command": [sys.executable, "-m", "podman_compose"],
            "upgrade_command": [
                sys.executable,
                str(UPGRADE),
                "--dsn-env",
                "DEMO_DSN",
                "-d",
                "{database}",
                "-u",
                "{update}",
                "-i",
                "{install}",
            ],
            "settle_seconds": 1,
            "lock_ttl_minutes": 30,
        },
    )
    return deploy_bed


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
