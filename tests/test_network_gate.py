"""net.no_public_ports on real sockets: those of this test process's own network namespace
(tests/isolation.py), where nothing listens on a public address unless this test opens it."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

from conftest import postdeploy, set_env_keys
from loopback import free_port
from podman_bed import podman


def allow(stack: Path, entries: list[str]) -> None:
    """Set the dev environment's allowlist (its line comes first in the demo config)."""
    config = stack / "ipai.toml"
    lines = config.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("port_allowlist = "))
    lines[index] = "port_allowlist = [" + ", ".join(f'"{e}"' for e in entries) + "]\n"
    config.write_text("".join(lines))


def audit(stack: Path) -> dict[str, Any]:
    result: dict[str, Any] = postdeploy(stack, "--", "--ipai-net-scope", "host")[
        "net.no_public_ports"
    ]
    return result


def test_public_listener_fails_and_allowlist_passes(stack_db: Any) -> None:
    stack, _ = stack_db
    allow(stack, [])  # nothing public to allow: the namespace holds only this test's sockets
    assert audit(stack)["status"] == "pass"
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind((address, free_port()))
        listener.listen()
        port = listener.getsockname()[1]
        try:
            result = audit(stack)
            assert (result["status"], result["error_class"]) == ("fail", "public_port")
            shown = f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"
            assert f"tcp {shown} (pid " in result["message"]
            assert "pytest" in result["message"] or "python" in result["message"]
            allow(stack, [shown])
            assert audit(stack)["status"] == "pass"
        finally:
            listener.close()
            allow(stack, [])


def test_stack_scope_judges_the_stacks_sockets_and_names_them(stack_db: Any, standin: Any) -> None:
    """On a shared host an unrelated public listener is not the stack's fault; Odoo listening
    publicly is, named by its command line."""
    stack, _ = stack_db
    allow(stack, [])
    unrelated = socket.create_server(("0.0.0.0", free_port()))
    try:
        server = standin("--bind", "127.0.0.1")
        set_env_keys(stack, host_process={"http_port": server.port}, services=None)
        result = postdeploy(stack)["net.no_public_ports"]
        assert result["status"] == "pass", result["message"]
        assert result["measurements"]["scope"] == "stack"
        assert result["measurements"]["stack_processes"] >= 2  # Odoo and PostgreSQL
        server = standin("--bind", "0.0.0.0")
        port = server.port
        set_env_keys(stack, host_process={"http_port": port})
        result = postdeploy(stack)["net.no_public_ports"]
        assert (result["status"], result["error_class"]) == ("fail", "public_port")
        assert f"tcp 0.0.0.0:{port} (pid " in result["message"]
        assert "odoo_standin.py" in result["message"]
        assert f"{unrelated.getsockname()[1]}" not in result["message"]
    finally:
        unrelated.close()


def test_protocol_and_network_entries_and_the_engines_own_networks(
    stack_db: Any, bed: Any, tmp_path: Path
) -> None:
    """A UDP listener on 10.123.0.1 (an address this test gives its own namespace's loopback
    device): public until the allowlist names its protocol and network, or until the address
    lies in one of the engine's bridge networks (where podman's DNS server listens), which is
    internal."""
    stack, _ = stack_db
    allow(stack, [])
    run_ip = ["ip", "addr", "add", "10.123.0.1/32", "dev", "lo"]
    subprocess.run(run_ip, check=True, timeout=30)
    network = f"{bed.project(tmp_path)}net"
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        listener.bind(("10.123.0.1", 0))
        port = listener.getsockname()[1]
        result = audit(stack)
        assert (result["status"], result["error_class"]) == ("fail", "public_port")
        assert f"udp 10.123.0.1:{port}" in result["message"]
        allow(stack, [f"tcp:10.123.0.0/24:{port}"])  # the wrong protocol allows nothing
        assert audit(stack)["status"] == "fail"
        allow(stack, [f"udp:10.123.0.0/24:{port}"])
        assert audit(stack)["status"] == "pass"
        allow(stack, [])
        listener.close()  # podman refuses a subnet an address of the host is in: make it first
        subprocess.run(["ip", "addr", "del", "10.123.0.1/32", "dev", "lo"], check=True, timeout=30)
        podman("network", "create", "--subnet", "10.123.0.0/24", network)
        subprocess.run(run_ip, check=True, timeout=30)
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listener.bind(("10.123.0.1", port))
        result = audit(stack)
        assert result["status"] == "pass", result["message"]
        assert "10.123.0.0/24" in result["measurements"]["engine_networks"]
        assert any(f"udp 10.123.0.1:{port}" in s for s in result["measurements"]["internal"])
    finally:
        listener.close()
        podman("network", "rm", "-f", network, check=False)
        subprocess.run(["ip", "addr", "del", "10.123.0.1/32", "dev", "lo"], timeout=30,
                       check=False)  # fmt: skip
        allow(stack, [])
