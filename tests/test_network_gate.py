"""net.no_public_ports on this machine's real sockets."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import postdeploy

from pytest_ipai.probes.sockets import exposed, parse_ss


def allow(stack: Path, entries: list[str]) -> None:
    """Set the dev environment's allowlist (its line comes first in the demo config)."""
    config = stack / "ipai.toml"
    lines = config.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("port_allowlist = "))
    lines[index] = "port_allowlist = [" + ", ".join(f'"{e}"' for e in entries) + "]\n"
    config.write_text("".join(lines))


def current_public() -> list[str]:
    out = subprocess.run(
        ["ss", "-H", "-ltnup"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return sorted(
        {
            f"[{s.address}]:{s.port}" if ":" in s.address else f"{s.address or '*'}:{s.port}"
            for s in exposed(parse_ss(out), [])
        }
    )


@pytest.mark.xdist_group("public-ports")  # with test_container_gates' host-wide checks
def test_public_listener_fails_and_allowlist_passes(stack_db: Any) -> None:
    stack, _ = stack_db
    already = current_public()  # what this machine exposes anyway (other services)
    allow(stack, already)
    assert postdeploy(stack)["net.no_public_ports"]["status"] == "pass"
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind((address, 0))
        listener.listen()
        port = listener.getsockname()[1]
        try:
            result = postdeploy(stack)["net.no_public_ports"]
            assert (result["status"], result["error_class"]) == ("fail", "public_port")
            shown = f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"
            assert f"tcp {shown} (python" in result["message"]
            allow(stack, [*already, shown])
            assert postdeploy(stack)["net.no_public_ports"]["status"] == "pass"
        finally:
            listener.close()
            allow(stack, already)
