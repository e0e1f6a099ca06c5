"""Runtime gate: the declared services' containers run (healthy where they have a check), and
Odoo's processes are the ones its configuration asks for, in containers or on the host: in
workers mode ``workers`` HTTP workers, ``max_cron_threads`` cron workers and one gevent child,
none of them respawning in a loop; in threaded mode its cron threads alive."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.engine import (
    DEFAULT_ENGINE,
    EngineError,
    container_state,
    engine,
    inspect_for_evidence,
    service_containers,
)
from pytest_ipai.probes.hosts import Target
from pytest_ipai.probes.odoo_inventory import container_snapshot, declared_pid, host_snapshot
from pytest_ipai.probes.odoo_procs import (
    Roles,
    Snapshot,
    churn,
    classify,
    find_master,
    replacements,
)

pytestmark = [pytest.mark.postdeploy]
Findings = list[tuple[str, str]]


@pytest.mark.gate("runtime.workers", severity="critical")
def test_workers(ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_host: Target) -> None:
    env = ipai_config.env
    services: dict[str, str] = dict(env.raw.get("services") or {})
    host: dict[str, Any] | None = env.raw.get("host_process")
    if not services and host is None:
        ipai_gate.error(
            "runtime_not_configured",
            f"environments.{env.name}: set services (Odoo in containers) or host_process "
            "(Odoo run by systemd, supervisor or by hand)",
        )
    timeout = float(ipai_gate.params.get("timeout", 10))
    findings: Findings = []
    if services:
        findings += _containers(ipai_gate, ipai_config, services, timeout, odoo=host is None)
    if host is not None and not findings:
        findings += _host(ipai_gate, ipai_config, ipai_host, host, timeout)
    ipai_gate.fail_findings(findings, rank=("workers_crash_loop", "container_not_running"))


def _containers(
    gate: GateRecorder, config: StackConfig, services: dict[str, str], timeout: float, odoo: bool
) -> Findings:
    env = config.env.raw
    project = env.get("compose_project")
    findings: Findings = []
    try:
        with engine(str(env.get("engine_socket", DEFAULT_ENGINE)), timeout) as client:
            states = {}
            for role, service in sorted(services.items()):
                containers = service_containers(client, service, project)
                gate.blob(
                    f"inspect {service}.json",
                    "[" + ",\n".join(inspect_for_evidence(c.attrs) for c in containers) + "]",
                    "application/json",
                )
                if not containers:
                    findings.append(("container_not_running", f"{role} ({service}): no container"))
                for container in containers:
                    state = container_state(container.attrs)
                    states[state.name] = state.describe()
                    if not state.ok:
                        findings.append(
                            ("container_not_running", f"{role} ({service}) {state.describe()}")
                        )
            gate.measure("containers", states)
            if odoo and "odoo" in services and not findings:
                for container in service_containers(client, services["odoo"], project):
                    roles = _sample(gate, lambda c=container: container_snapshot(c), None, None)
                    findings += judge(gate, config, roles, container.name)
    except EngineError as exc:
        gate.error(getattr(exc, "error_class", "engine_unavailable"), exc.message)
    return findings


def _host(
    gate: GateRecorder, config: StackConfig, target: Target, host: dict[str, Any], timeout: float
) -> Findings:
    http_port = int(host.get("http_port", 8069))
    gevent_port = int(host.get("gevent_port", 8072))
    try:
        pid = declared_pid(target, host.get("pidfile"), host.get("systemd_unit"), timeout)
        roles = _sample(gate, lambda: host_snapshot(target, timeout), pid, (http_port, gevent_port))
    except IpaiError as exc:
        gate.error("runtime_probe_unavailable", exc.message)
    if roles[-1].master is None:
        how = f"pid {pid} (declared) is not running" if pid else f"no process owns port {http_port}"
        return [("workers_missing", f"{target.spec}: no Odoo master process: {how}")]
    return judge(gate, config, roles, target.spec)


def _sample(
    gate: GateRecorder,
    take: Callable[[], Snapshot],
    declared: int | None,
    ports: tuple[int, int] | None,
) -> list[Roles]:
    """Roles seen in ``params.samples`` snapshots over ``params.window`` seconds: a respawn loop
    shows as pids that change, which one look cannot tell from a healthy tree."""
    count = max(2, int(gate.params.get("samples", 5)))
    window = float(gate.params.get("window", 4.0))
    http_port, gevent_port = ports if ports else (None, None)
    samples: list[Roles] = []
    # One replacement is a worker recycled (limit_request, limit_memory_soft), or the first
    # of a loop on a slow machine: look again, up to twice, before calling it either.
    for _round in range(3):
        for index in range(count):
            if samples or index:
                time.sleep(window / (count - 1))
            snap = take()
            master = find_master(snap, declared, http_port)
            samples.append(classify(snap, master, http_port, gevent_port))
        if 1 not in replacements(samples).values():
            break
    gate.measure("samples", len(samples))
    gate.blob(
        "odoo processes.json",
        json.dumps([r.describe() for r in samples], indent=1),
        "application/json",
    )
    return samples


def judge(gate: GateRecorder, config: StackConfig, samples: list[Roles], where: str) -> Findings:
    env = config.env.raw
    http = int(env.get("workers", 0))
    cron = int(env.get("max_cron_threads", 2))
    last = samples[-1]
    if last.master is None:
        return [("workers_missing", f"{where}: no Odoo master process")]
    if not last.master.alive:
        state = "a zombie" if last.master.state.startswith("Z") else "stopped"
        return [("master_stopped", f"{where}: the Odoo master pid {last.master.pid} is {state} "
                 f"(state {last.master.state}): nothing it owns serves")]  # fmt: skip
    loops = churn(samples)
    looping = {c.role for c in loops}
    findings: Findings = [
        (
            "workers_crash_loop",
            f"{where}: {c.role} processes respawn in a loop ({c.pids_seen} pids over the "
            f"window, at most {c.most_at_once} at once)"
            + (": the gevent child's traceback goes to stdout only" if c.role == "gevent" else ""),
        )
        for c in loops
    ]
    gate.measure(f"roles {where}", last.describe())
    if last.not_alive:  # counted as nothing: the roles below come out short
        pids = ", ".join(f"{p.pid} ({p.state})" for p in last.not_alive)
        gate.notice(
            "workers_not_alive", f"{where}: stopped or zombie children of the master: {pids}"
        )
    if http > 0:
        if last.mode == "threaded":
            return [
                *findings,
                ("workers_missing", f"{where}: Odoo runs threaded, expected {http} HTTP workers"),
            ]
        for key, role, want, seen in (
            ("http", "HTTP workers", http, len(last.http)),
            ("cron", "cron workers", cron, len(last.cron)),
            ("gevent", "gevent (longpolling) child", 1, len(last.gevent)),
        ):
            if seen != want and key not in looping:
                klass = "workers_missing" if seen < want else "workers_unexpected"
                findings.append(
                    (
                        klass,
                        f"{where}: {seen} {role} under master pid {last.master.pid}, "
                        f"expected {want}",
                    )
                )
        return findings
    if last.mode == "workers":
        return [
            *findings,
            (
                "workers_unexpected",
                f"{where}: Odoo runs {len(last.http)} HTTP workers, configured threaded "
                "(workers = 0)",
            ),
        ]
    threads = [r.master.threads for r in samples if r.master is not None and r.master.threads]
    if threads:
        want = 2 + cron  # main + HTTP server + one per cron thread
        gate.measure(f"threads {where}", {"idle": min(threads), "expected": want})
        if min(threads) < want:
            findings.append(
                (
                    "cron_threads_dead",
                    f"{where}: {min(threads)} threads in the Odoo process, expected {want} "
                    f"(main, HTTP server, {cron} cron): cron threads die for good when "
                    "PostgreSQL restarts, while HTTP goes on",
                )
            )
    return findings
