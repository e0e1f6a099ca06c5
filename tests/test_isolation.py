"""The test isolation itself (isolation.py): each test process has a network namespace and a
PostgreSQL server of its own, and cannot see another isolated process's listeners."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from conftest import postgres_key, store_key
from isolation import public_listeners
from loopback import free_port

HERE = Path(__file__).resolve().parent

NEIGHBOUR = """
import socket, sys
sys.path.insert(0, sys.argv[1])
from isolation import enter_private_network, public_listeners
enter_private_network()
listener = socket.socket()
listener.bind(("0.0.0.0", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
sys.stdin.readline()  # the test has looked: now report what this side sees
print(" ".join(sorted(s.port for s in public_listeners())), flush=True)
"""


def test_this_process_has_a_network_of_its_own() -> None:
    mine = os.readlink("/proc/thread-self/ns/net")
    assert mine != os.readlink(f"/proc/{os.getppid()}/ns/net")
    assert public_listeners() == []  # nothing public unless this test opens it


def test_an_isolated_neighbour_and_this_test_never_see_each_other() -> None:
    neighbour = subprocess.Popen(
        [sys.executable, "-c", NEIGHBOUR, str(HERE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert neighbour.stdin is not None and neighbour.stdout is not None
    own = socket.socket()
    try:
        their_port = neighbour.stdout.readline().strip()
        assert their_port.isdigit(), "the neighbour did not start"
        own.bind(("0.0.0.0", free_port()))
        own.listen()
        own_port = str(own.getsockname()[1])
        assert [s.port for s in public_listeners()] == [own_port]
        neighbour.stdin.write("\n")
        neighbour.stdin.flush()
        assert neighbour.stdout.readline().split() == [their_port]
    finally:
        own.close()
        neighbour.kill()
        neighbour.wait(10)


def test_the_database_server_is_this_processes_own(request: pytest.FixtureRequest) -> None:
    server = request.config.stash[postgres_key]
    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=5
    ) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None and Path(row[0]).parent == server.root


def test_the_container_store_is_this_processes_own(request: pytest.FixtureRequest) -> None:
    store = request.config.stash[store_key]
    info = subprocess.run(
        ["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.RunRoot}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert info == [str(store.root / "graph"), str(store.root / "run")]
