"""Network gate: nothing of the stack listens, and no container port of it is published, on a
non-loopback address outside the allowlist. ``params.scope = "stack"`` (the default) judges the
stack's own processes (the Odoo master's tree, PostgreSQL, the declared containers), so an
unrelated listener on a shared host is not the stack's fault; ``"host"`` audits every socket of
the host. Each listener is named by command line, systemd unit or container."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.addresses import allowed, in_networks, is_loopback
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.engine import (
    DEFAULT_ENGINE,
    Binding,
    EngineError,
    engine,
    engine_subnets,
    port_bindings,
    running_containers,
    service_containers,
)
from pytest_ipai.probes.hosts import Target
from pytest_ipai.probes.odoo_inventory import (
    declared_pid,
    descendants,
    host_snapshot,
    systemd_unit,
)
from pytest_ipai.probes.odoo_procs import Snapshot, find_master
from pytest_ipai.probes.sockets import Listener, exposed, parse_ss

pytestmark = [pytest.mark.postdeploy]
SS = ["ss", "-H", "-l", "-t", "-n", "-u", "-p"]
SCOPES = ("stack", "host")


@pytest.mark.gate("net.no_public_ports", severity="critical")
def test_no_public_ports(
    ipai_gate: GateRecorder,
    ipai_config: StackConfig,
    ipai_host: Target,
    request: pytest.FixtureRequest,
) -> None:
    env = ipai_config.env
    given = request.config.getoption("ipai_net_scope")
    scope = str(given or ipai_gate.params.get("scope", "stack"))
    if scope not in SCOPES:
        ipai_gate.error(
            "policy_invalid", f"net.no_public_ports params.scope: {scope!r}; use stack or host"
        )
    allowlist = list(env.raw.get("port_allowlist", []))
    timeout = float(ipai_gate.params.get("timeout", 30))
    try:
        proc = ipai_host.run(SS, timeout=timeout)
        if proc.returncode != 0:
            ipai_gate.error(
                "net_probe_unavailable",
                f"ss on {ipai_host.spec} exited {proc.returncode}: {proc.stderr.strip()[:200]}",
            )
        listeners = parse_ss(proc.stdout)
    except IpaiError as exc:
        ipai_gate.error("net_probe_unavailable", exc.message)
    try:
        snap = host_snapshot(ipai_host, timeout)
    except IpaiError as exc:
        if scope == "stack":  # the stack's processes are what this scope judges
            ipai_gate.error("net_probe_unavailable", exc.message)
        snap = Snapshot({})  # an audit names listeners by ss alone
        ipai_gate.measure("process_names", f"unavailable: {exc.message}")
    ipai_gate.blob(f"ss -H -ltnup on {ipai_host.spec}", proc.stdout)
    ipai_gate.measure("scope", scope)
    ipai_gate.measure("listening", len(listeners))
    containers: dict[str, set[int]] = {}  # container name -> its processes on the host
    bindings: list[Binding] = []
    internal: list[str] = []  # the engine's own networks: nothing there is public
    if "engine_socket" in env.raw or env.raw.get("services"):
        containers, bindings, internal = _engine(ipai_gate, ipai_config, snap, scope, timeout)
    judged = listeners
    if scope == "stack":
        stack = _stack_pids(ipai_gate, ipai_config, ipai_host, snap, timeout)
        stack |= {pid for pids in containers.values() for pid in pids}
        ipai_gate.measure("stack_processes", len(stack))
        if not stack and not bindings:
            ipai_gate.error(
                "net_scope_unknown",
                "scope stack: no process of the stack was found (declare host_process or "
                'services, or audit the whole host with params.scope = "host")',
            )
        judged = [s for s in listeners if set(s.pids) & stack]
    inside = [s for s in judged if in_networks(s.address, internal)]
    ipai_gate.measure(
        "internal", [f"{s.proto} {_shown(s)}:{s.port} ({s.process})" for s in inside]
    )  # on an engine bridge (its DNS server, a container's address): reachable from containers
    judged = [s for s in judged if s not in inside]
    findings = [
        f"{s.proto} {_shown(s)}:{s.port} ({_name(s, snap, containers, ipai_host, timeout)})"
        for s in exposed(judged, allowlist)
    ]
    findings += [
        f"published {b.describe()}"
        for b in bindings
        if not is_loopback(b.host_ip.strip("[]"))
        and not in_networks(b.host_ip.strip("[]"), internal)
        and not allowed(b.host_ip.strip("[]"), b.host_port, allowlist)
    ]
    ipai_gate.measure("public", len(findings))
    if findings:
        ipai_gate.fail(
            "public_port",
            f"{len(findings)} socket(s) or binding(s) of the {scope} on a non-loopback address "
            "outside the allowlist: " + "; ".join(findings),
        )


def _engine(
    gate: GateRecorder, config: StackConfig, snap: Snapshot, scope: str, timeout: float
) -> tuple[dict[str, set[int]], list[Binding], list[str]]:
    """Containers' host processes and published ports (a binding may reach a container with no
    local socket showing it): the declared services' in scope stack, every one's in scope host;
    and the subnets of the engine's bridge networks (internal, never public)."""
    env = config.env.raw
    try:
        with engine(str(env.get("engine_socket", DEFAULT_ENGINE)), timeout) as client:
            if scope == "stack":
                services = dict(env.get("services") or {}).values()
                found = [
                    c
                    for service in services
                    for c in service_containers(client, service, env.get("compose_project"))
                ]
            else:
                found = running_containers(client)
            attrs: list[dict[str, Any]] = [c.attrs for c in found]
            internal = engine_subnets(client)
    except EngineError as exc:
        gate.error(getattr(exc, "error_class", "net_probe_unavailable"), exc.message)
    bindings = [b for a in attrs for b in port_bindings(a)]
    gate.blob(
        "port bindings.json",
        json.dumps([b.__dict__ for b in bindings], indent=1),
        "application/json",
    )
    gate.measure("published", len(bindings))
    gate.measure("engine_networks", internal)
    containers = {
        str(a.get("Name", "?")).lstrip("/"): descendants(
            snap, {int((a.get("State") or {}).get("Pid") or 0)}
        )
        for a in attrs
    }
    return containers, bindings, internal


def _stack_pids(
    gate: GateRecorder, config: StackConfig, target: Target, snap: Snapshot, timeout: float
) -> set[int]:
    """The Odoo master's tree (host_process) and PostgreSQL's (the owner of the DSN's port)."""
    env = config.env.raw
    pids: set[int] = set()
    host = env.get("host_process")
    if host is not None:
        http_port = int(host.get("http_port", 8069))
        pid = declared_pid(target, host.get("pidfile"), host.get("systemd_unit"), timeout)
        master = find_master(snap, pid, http_port)
        if master is not None:
            pids |= descendants(snap, {master.pid})
    port = _db_port(env)
    if port is not None:
        pids |= descendants(snap, set(snap.owners(port)))
    return pids


def _db_port(env: dict[str, Any]) -> int | None:
    dsn = os.environ.get(str(env.get("dsn_env", ""))) if env.get("dsn_env") else None
    if not dsn:
        return None
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # an unreadable DSN is db.reachable's to report
        return None
    host = str(parts.get("host") or "localhost")
    if not (host.startswith("/") or is_loopback(host) or host == "localhost"):
        return None  # PostgreSQL elsewhere: not a socket of this host
    return int(parts.get("port") or 5432)


def _shown(s: Listener) -> str:
    return f"[{s.address}]" if ":" in s.address else (s.address or "*")


def _name(
    s: Listener, snap: Snapshot, containers: dict[str, set[int]], target: Target, timeout: float
) -> str:
    names = []
    for pid in s.pids[:3]:
        proc = snap.procs.get(pid)
        where = [f"pid {pid}"]
        owner = next((name for name, tree in containers.items() if pid in tree), None)
        if owner:
            where.append(f"container {owner}")
        else:
            unit = systemd_unit(target, pid, timeout)
            if unit:
                where.append(f"unit {unit}")
        names.append(f"{' '.join(where)}: {proc.command[:100]}" if proc else " ".join(where))
    return "; ".join(names) or s.process or "process unknown"
