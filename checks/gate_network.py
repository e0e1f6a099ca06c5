"""Network gate: nothing listens on a non-loopback address outside the allowlist."""

from __future__ import annotations

import pytest

from pytest_ipai.config import StackConfig
from pytest_ipai.errors import IpaiError
from pytest_ipai.proc import run
from pytest_ipai.recorder import GateRecorder
from pytest_ipai.sockets import exposed, parse_ss

pytestmark = [pytest.mark.postdeploy]


@pytest.mark.gate("net.no_public_ports", severity="critical")
def test_no_public_ports(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    allowlist = list(ipai_config.env.raw.get("port_allowlist", []))
    try:
        proc = run(["ss", "-H", "-l", "-t", "-n", "-u", "-p"], timeout=30)
    except IpaiError as exc:
        ipai_gate.error("net_probe_unavailable", exc.message)
    if proc.returncode != 0:
        ipai_gate.error(
            "net_probe_unavailable", f"ss exited {proc.returncode}: {proc.stderr.strip()[:200]}"
        )
    ipai_gate.blob("ss -H -ltnup", proc.stdout)
    try:
        listeners = parse_ss(proc.stdout)
    except IpaiError as exc:
        ipai_gate.error("net_probe_unavailable", exc.message)
    public = exposed(listeners, allowlist)
    ipai_gate.measure("listening", len(listeners))
    ipai_gate.measure("public", len(public))
    if public:
        ipai_gate.fail(
            "public_port",
            f"{len(public)} socket(s) on a non-loopback address outside the allowlist: "
            + "; ".join(s.describe() for s in public),
        )
