"""runtime.code_current: the running code is the deployed code. Odoo loads its addons once, at
start: a container or process older than the deploy serves the previous release, however the
files on disk changed (a bind-mounted checkout that compose did not recreate). Each Odoo
container must also run the image and the bind mounts the compose files name, and the image's
revision label, where it has one, must be the deployed commit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.gitstate import git
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.engine import DEFAULT_ENGINE, EngineError, engine, service_containers
from pytest_ipai.probes.hosts import Target
from pytest_ipai.probes.odoo_inventory import declared_pid, descendants, host_snapshot
from pytest_ipai.probes.odoo_procs import find_master
from pytest_ipai.rules.compose import load_compose
from pytest_ipai.rules.deployed import (
    expected_service,
    judge_container,
    judge_processes,
    odoo_services,
)

pytestmark = [pytest.mark.postdeploy]
RANK = ("code_stale", "image_not_deployed", "mounts_not_deployed", "revision_mismatch")


@pytest.mark.gate("runtime.code_current", severity="critical")
def test_code_current(
    ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_host: Target, ipai_since: datetime
) -> None:
    env = ipai_config.env
    services = odoo_services(dict(env.raw.get("services") or {}))
    host: dict[str, Any] | None = env.raw.get("host_process")
    if not services and host is None:
        ipai_gate.error("runtime_not_configured",
                        f"environments.{env.name}: set services or host_process")  # fmt: skip
    code, head = git(ipai_config.repo_root, "rev-parse", "HEAD")
    sha = head.strip() if code == 0 else None
    ipai_gate.measure("deploy_started", f"{ipai_since:%Y-%m-%d %H:%M:%S}")
    ipai_gate.measure("deployed_sha", sha)
    timeout = float(ipai_gate.params.get("timeout", 10))
    findings = _containers(ipai_gate, ipai_config, services, ipai_since, sha, timeout)
    if host is not None:
        findings += _host(ipai_gate, ipai_host, host, ipai_since, timeout)
    ipai_gate.fail_findings(findings, rank=RANK)


def _containers(
    gate: GateRecorder, config: StackConfig, services: list[str], since: datetime,
    sha: str | None, timeout: float,
) -> list[tuple[str, str]]:  # fmt: skip
    if not services:
        return []
    env = config.env.raw
    try:
        files = [config.base_dir / str(name) for name in env.get("compose_files") or []]
        compose = [(f, load_compose(f)) for f in files]
    except IpaiError as exc:
        gate.error("compose_unreadable", exc.message)
    findings: list[tuple[str, str]] = []
    seen: dict[str, Any] = {}
    try:
        with engine(str(env.get("engine_socket", DEFAULT_ENGINE)), timeout) as client:
            for service in services:
                expected = expected_service(compose, service)
                containers = service_containers(client, service, env.get("compose_project"))
                if not containers:
                    findings.append(("code_stale", f"{service}: no container runs it"))
                for container in containers:
                    attrs = container.attrs
                    seen[container.name] = {
                        "started_at": (attrs.get("State") or {}).get("StartedAt"),
                        "image": (attrs.get("Config") or {}).get("Image"),
                        "expected_image": expected.image,
                        "expected_binds": list(expected.binds),
                    }
                    findings += judge_container(attrs, expected, since, sha)
    except EngineError as exc:
        gate.error(getattr(exc, "error_class", "engine_unavailable"), exc.message)
    gate.blob("code-current.json", json.dumps(seen, indent=1), "application/json")
    return findings


def _host(
    gate: GateRecorder, target: Target, host: dict[str, Any], since: datetime, timeout: float
) -> list[tuple[str, str]]:
    try:
        pid = declared_pid(target, host.get("pidfile"), host.get("systemd_unit"), timeout)
        snap = host_snapshot(target, timeout)
    except IpaiError as exc:
        gate.error("runtime_probe_unavailable", exc.message)
    master = find_master(snap, pid, int(host.get("http_port", 8069)))
    if master is None:
        return [("code_stale", f"{target.spec}: no Odoo master process to judge")]
    tree = descendants(snap, {master.pid})
    ages = {p: snap.procs[p].age for p in tree if p in snap.procs}
    gate.measure("processes", {str(p): round(a, 1) for p, a in sorted(ages.items())})
    return judge_processes(ages, since, datetime.now(UTC).replace(tzinfo=None))
