"""The engine probe's parsing (Docker's and podman's answers differ in shape) and host specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_ipai

from pytest_ipai.core.errors import ConfigError
from pytest_ipai.probes.engine import (
    EngineError,
    connect,
    container_state,
    inspect_for_evidence,
    odoo_workers,
    parse_top,
    port_bindings,
)
from pytest_ipai.probes.hosts import LOCAL, HostError, Target, target_spec

ODOO = "/usr/bin/python3 /usr/bin/odoo --config /etc/odoo/odoo.conf"


def test_top_in_docker_columns_and_podman_rows_reads_the_same() -> None:
    docker = {
        "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "Processes": [
            ["odoo", "10", "1", "0", "10:00", "?", "00:00:01", ODOO],
            ["odoo", "11", "10", "0", "10:00", "?", "00:00:01", ODOO],
        ],
    }
    podman = {
        "Titles": ["UID          PID    PPID  C STIME TTY          TIME CMD"],
        "Processes": [
            [f"odoo 10 1 0 10:00 ? 00:00:01 {ODOO}"],
            [f"odoo 11 10 0 10:00 ? 00:00:01 {ODOO}"],
        ],
    }
    assert parse_top(docker) == parse_top(podman)
    assert parse_top(podman)[1].command == ODOO
    with pytest.raises(EngineError, match="PID/PPID/CMD"):
        parse_top({"Titles": ["USER", "COMMAND"], "Processes": []})


def test_workers_by_parent_pid_or_by_title() -> None:
    untitled = parse_top(
        {
            "Titles": ["PID", "PPID", "CMD"],
            "Processes": [
                ["1", "0", "tini -- odoo"],
                ["7", "1", ODOO],
                ["8", "7", ODOO],
                ["9", "7", ODOO],
            ],
        }
    )
    count = odoo_workers(untitled)
    # tini names odoo too, but the master is the process whose children share its command line
    assert count.master is not None
    assert (count.master.pid, count.children, count.titled) == (7, 2, False)
    titled = parse_top(
        {
            "Titles": ["PID", "PPID", "CMD"],
            "Processes": [
                ["7", "1", ODOO],
                ["8", "7", "odoo: WorkerHTTP (8)"],
                ["9", "7", "odoo: WorkerCron (9)"],
                ["10", "7", "odoo: WorkerHTTP (10)"],
            ],
        }
    )
    count = odoo_workers(titled)
    assert (count.http, count.children, count.titled) == (2, 3, True)
    assert (
        odoo_workers(
            parse_top({"Titles": ["PID", "PPID", "CMD"], "Processes": [["1", "0", "nginx"]]})
        ).master
        is None
    )


def test_state_bindings_and_inspect_without_environment_values() -> None:
    attrs = {
        "Name": "/stack_odoo_1",
        "State": {"Status": "running", "Health": {"Status": ""}},
        "Config": {"Env": ["PGPASSWORD=hunter2hunter2", "PATH=/usr/bin"]},
        "NetworkSettings": {
            "Ports": {
                "8069/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8069"}],
                "8072/tcp": [{"HostIp": "", "HostPort": "8072"}],
                "9000/tcp": None,
            }
        },
    }
    assert container_state(attrs).ok and container_state(attrs).health is None
    attrs["State"] = {"Status": "running", "Health": {"Status": "unhealthy"}}
    assert container_state(attrs).describe() == "stack_odoo_1: running, health unhealthy"
    bindings = port_bindings(attrs)
    assert [(b.host_ip, b.everywhere) for b in bindings] == [("127.0.0.1", False), ("", True)]
    assert bindings[1].describe() == "0.0.0.0:8072 -> stack_odoo_1:8072/tcp"
    shown = inspect_for_evidence(attrs)
    assert "hunter2" not in shown and "PGPASSWORD=[REMOVED]" in json.loads(shown)["Config"]["Env"]


def test_unreachable_engines(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no such socket"):
        connect(f"unix://{tmp_path}/none.sock")
    (tmp_path / "plain").write_text("")
    with pytest.raises(EngineError, match="engine unix://"):
        connect(f"unix://{tmp_path}/plain", timeout=2)


def test_host_specs() -> None:
    assert target_spec(None, None, "environments.dev") == LOCAL
    assert target_spec(None, ["ssh://ops@erp"], "environments.prod") == "ssh://ops@erp"
    assert target_spec("podman://odoo", ["ssh://ops@erp"], "x") == "podman://odoo"
    with pytest.raises(ConfigError, match="--hosts: one host per run"):
        target_spec("ssh://a,ssh://b", None, "x")
    with pytest.raises(ConfigError, match="is not a host spec"):
        target_spec("ftp://a", None, "x")
    with pytest.raises(HostError, match="not a plain word"):
        Target("ssh://ops@erp").run(["ss", "-H; rm -rf /"], timeout=1)


def test_two_hosts_on_the_command_line_is_a_usage_error(demo_stack: Path) -> None:
    proc = run_ipai(
        "gate",
        "postdeploy",
        "--config",
        str(demo_stack / "ipai.toml"),
        "--hosts",
        "ssh://a,ssh://b",
    )
    assert proc.returncode == 2
    assert "--hosts: one host per run" in proc.stdout + proc.stderr


def test_a_service_is_never_a_container_whose_id_starts_with_its_name() -> None:
    """Without labels the service is the container of that exact name; the engine's lookup
    also takes an id prefix, so "db" found a container with id db3f... (a real flake)."""
    from types import SimpleNamespace

    from pytest_ipai.probes.engine import service_containers

    def client_with(named: str) -> SimpleNamespace:
        found = SimpleNamespace(name=named)
        containers = SimpleNamespace(list=lambda **_: [], get=lambda _: found)
        return SimpleNamespace(containers=containers)

    assert service_containers(client_with("t1-odoo-0"), "db", "t1") == []
    assert [c.name for c in service_containers(client_with("db"), "db", "t1")] == ["db"]
