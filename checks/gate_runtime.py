"""Runtime gate: the declared services' containers run (and are healthy where they have a
healthcheck), and Odoo's worker processes match the configured count. Through the Docker API."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.engine import (
    DEFAULT_ENGINE,
    EngineError,
    container_state,
    engine,
    inspect_for_evidence,
    odoo_workers,
    processes,
    service_containers,
)

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.postdeploy]


@pytest.mark.gate("runtime.workers", severity="critical")
def test_workers(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    env = ipai_config.env
    services: dict[str, str] = dict(env.raw.get("services") or {})
    if not services:
        ipai_gate.error("runtime_not_configured", f"environments.{env.name}.services: not set")
    address = str(env.raw.get("engine_socket", DEFAULT_ENGINE))
    project = env.raw.get("compose_project")
    findings: list[tuple[str, str]] = []
    try:
        with engine(address, float(ipai_gate.params.get("timeout", 10))) as client:
            states = {}
            for role, service in sorted(services.items()):
                containers = service_containers(client, service, project)
                ipai_gate.blob(
                    f"inspect {service}.json",
                    "[" + ",\n".join(inspect_for_evidence(c.attrs) for c in containers) + "]",
                    "application/json",
                )
                if not containers:
                    findings.append(("container_not_running", f"{role} ({service}): no container"))
                    continue
                for container in containers:
                    state = container_state(container.attrs)
                    states[state.name] = state.describe()
                    if not state.ok:
                        findings.append(
                            ("container_not_running", f"{role} ({service}) {state.describe()}")
                        )
            ipai_gate.measure("containers", states)
            expected = int(env.raw.get("workers", 0))
            odoo_service = services.get("odoo")
            if expected > 0 and odoo_service and not findings:
                findings += _workers(ipai_gate, client, odoo_service, project, expected)
    except EngineError as exc:
        ipai_gate.error("engine_unavailable", exc.message)
    ipai_gate.fail_findings(findings)


def _workers(
    gate: GateRecorder, client: DockerClient, service: str, project: str | None, expected: int
) -> list[tuple[str, str]]:
    found = []
    for container in service_containers(client, service, project):
        procs = processes(container)
        gate.blob(
            f"top {container.name}.json",
            json.dumps([p.__dict__ for p in procs], indent=1),
            "application/json",
        )
        count = odoo_workers(procs)
        if count.master is None:
            found.append(("workers_missing", f"{container.name}: no Odoo master process"))
            continue
        # Titled processes tell HTTP workers apart; untitled ones are all the master's children
        # (HTTP, cron and gevent), so fewer children than HTTP workers is surely a loss.
        seen = count.http if count.titled else count.children
        gate.measure(f"workers {container.name}", {"expected": expected, "seen": seen})
        if seen < expected:
            kind = "WorkerHTTP processes" if count.titled else "worker processes"
            found.append(
                (
                    "workers_missing",
                    f"{container.name}: {seen} {kind} under master pid {count.master.pid}, "
                    f"expected {expected}",
                )
            )
    return found
