"""Network gate: nothing listens, and no container port is published, on a non-loopback address
outside the allowlist. Sockets come from ``ss`` on the target host; bindings from the engine."""

from __future__ import annotations

import json

import pytest

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.addresses import allowed, is_loopback
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.engine import (
    DEFAULT_ENGINE,
    EngineError,
    engine,
    port_bindings,
    running_containers,
)
from pytest_ipai.probes.hosts import Target
from pytest_ipai.probes.sockets import exposed, parse_ss

pytestmark = [pytest.mark.postdeploy]
SS = ["ss", "-H", "-l", "-t", "-n", "-u", "-p"]


@pytest.mark.gate("net.no_public_ports", severity="critical")
def test_no_public_ports(
    ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_host: Target
) -> None:
    env = ipai_config.env
    allowlist = list(env.raw.get("port_allowlist", []))
    timeout = float(ipai_gate.params.get("timeout", 30))
    try:
        proc = ipai_host.run(SS, timeout=timeout)
    except IpaiError as exc:
        ipai_gate.error("net_probe_unavailable", exc.message)
    if proc.returncode != 0:
        ipai_gate.error(
            "net_probe_unavailable",
            f"ss on {ipai_host.spec} exited {proc.returncode}: {proc.stderr.strip()[:200]}",
        )
    ipai_gate.blob(f"ss -H -ltnup on {ipai_host.spec}", proc.stdout)
    try:
        listeners = parse_ss(proc.stdout)
    except IpaiError as exc:
        ipai_gate.error("net_probe_unavailable", exc.message)
    findings = [s.describe() for s in exposed(listeners, allowlist)]
    ipai_gate.measure("listening", len(listeners))
    # Published ports: a container can be reachable through a binding that no local socket
    # shows (Docker's iptables rules), so the engine is asked too when the stack has one.
    if "engine_socket" in env.raw or env.raw.get("services"):
        address = str(env.raw.get("engine_socket", DEFAULT_ENGINE))
        try:
            with engine(address, timeout) as client:
                bindings = [b for c in running_containers(client) for b in port_bindings(c.attrs)]
        except EngineError as exc:
            ipai_gate.error("net_probe_unavailable", exc.message)
        ipai_gate.blob(
            "port bindings.json",
            json.dumps([b.__dict__ for b in bindings], indent=1),
            "application/json",
        )
        ipai_gate.measure("published", len(bindings))
        findings += [
            f"published {b.describe()}"
            for b in bindings
            if not is_loopback(b.host_ip.strip("[]"))
            and not allowed(b.host_ip.strip("[]"), b.host_port, allowlist)
        ]
    ipai_gate.measure("public", len(findings))
    if findings:
        ipai_gate.fail(
            "public_port",
            f"{len(findings)} socket(s) or binding(s) on a non-loopback address outside the "
            "allowlist: " + "; ".join(findings),
        )
