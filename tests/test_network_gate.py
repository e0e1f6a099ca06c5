"""net.no_public_ports on real sockets: those of this test process's own network namespace
(tests/isolation.py), where nothing listens on a public address unless this test opens it."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from conftest import postdeploy


def allow(stack: Path, entries: list[str]) -> None:
    """Set the dev environment's allowlist (its line comes first in the demo config)."""
    config = stack / "ipai.toml"
    lines = config.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("port_allowlist = "))
    lines[index] = "port_allowlist = [" + ", ".join(f'"{e}"' for e in entries) + "]\n"
    config.write_text("".join(lines))


def test_public_listener_fails_and_allowlist_passes(stack_db: Any) -> None:
    stack, _ = stack_db
    allow(stack, [])  # nothing public to allow: the namespace holds only this test's sockets
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
            allow(stack, [shown])
            assert postdeploy(stack)["net.no_public_ports"]["status"] == "pass"
        finally:
            listener.close()
            allow(stack, [])
