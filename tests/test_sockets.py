"""Parsing ``ss -H -ltnup`` and judging exposure (IPv4, IPv6, wildcards, the allowlist)."""

from __future__ import annotations

import subprocess

import pytest

from pytest_ipai.core.errors import InputError
from pytest_ipai.probes.sockets import exposed, parse_ss

SS = """\
tcp   LISTEN 0      4096         0.0.0.0:8069       0.0.0.0:*    users:(("python3",pid=1301,fd=5),("python3",pid=1307,fd=5))
tcp   LISTEN 0      244        127.0.0.1:5432       0.0.0.0:*    users:(("postgres",pid=88,fd=7))
tcp   LISTEN 0      4096            [::]:8072          [::]:*    users:(("python3",pid=1310,fd=9))
tcp   LISTEN 0      4096           [::1]:6379          [::]:*
tcp   LISTEN 0      511                *:443              *:*    users:(("nginx",pid=70,fd=6))
udp   UNCONN 0      0         0.0.0.0%lo:53         0.0.0.0:*
tcp   LISTEN 0      128   [::ffff:127.0.0.1]:9000        *:*
tcp   LISTEN 0      128        10.1.2.3:22          0.0.0.0:*    users:(("sshd",pid=1,fd=3))
"""


def test_parse_addresses_of_both_families() -> None:
    sockets = parse_ss(SS)
    assert [(s.proto, s.address, s.port) for s in sockets] == [
        ("tcp", "0.0.0.0", "8069"),
        ("tcp", "127.0.0.1", "5432"),
        ("tcp", "::", "8072"),
        ("tcp", "::1", "6379"),
        ("tcp", "*", "443"),
        ("udp", "0.0.0.0", "53"),
        ("tcp", "127.0.0.1", "9000"),
        ("tcp", "10.1.2.3", "22"),
    ]
    assert sockets[0].process == "python3 pid 1301, python3 pid 1307"
    assert sockets[2].describe() == "tcp [::]:8072 (python3 pid 1310)"


def test_exposure_and_allowlist() -> None:
    sockets = parse_ss(SS)
    public = {s.describe() for s in exposed(sockets, ["*:443"])}
    assert public == {
        "tcp 0.0.0.0:8069 (python3 pid 1301, python3 pid 1307)",
        "tcp [::]:8072 (python3 pid 1310)",
        "udp 0.0.0.0:53 (process unknown)",
        "tcp 10.1.2.3:22 (sshd pid 1)",
    }
    assert not exposed(sockets, ["0.0.0.0:8069", "[::]:8072", "*:443", "0.0.0.0:53", "10.1.2.3:22"])
    # An entry for every interface of one family covers the other family's wildcard too.
    assert not [s for s in exposed(sockets, ["0.0.0.0:8072"]) if s.port == "8072"]


def test_garbage_is_an_error_not_a_pass() -> None:
    with pytest.raises(InputError, match="ss output line 2: not a socket line"):
        parse_ss("tcp LISTEN 0 1 127.0.0.1:1 0.0.0.0:*\nState Recv-Q Send-Q\n")


def test_real_ss_output_parses() -> None:
    proc = subprocess.run(
        ["ss", "-H", "-ltnup"], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    sockets = parse_ss(proc.stdout)
    assert any(s.port == "5432" for s in sockets)  # the test PostgreSQL listens
