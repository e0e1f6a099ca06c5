"""The engine probe's parsing (Docker's and podman's answers differ in shape) and host specs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import run_ipai

from pytest_ipai.core.errors import ConfigError
from pytest_ipai.probes.engine import (
    EngineError,
    connect,
    container_state,
    inspect_for_evidence,
    port_bindings,
)
from pytest_ipai.probes.hosts import LOCAL, HostError, Target, target_spec
from pytest_ipai.probes.odoo_inventory import parse_top_columns
from pytest_ipai.probes.odoo_procs import (
    Snapshot,
    churn,
    classify,
    find_master,
    parse_ps,
    parse_ss_owners,
)
from pytest_ipai.rules.deployed import expected_service, judge_container, judge_processes

ODOO = "/usr/bin/python3 /usr/bin/odoo --config /etc/odoo/odoo.conf"


ARGS = "-c /srv/facts/odoo.conf -d of_contacts --workers=2 --max-cron-threads=1"
BIN = "/opt/odoo/venv/bin/python /opt/odoo/src/odoo-bin"
# An Odoo 18.0 server seen with ps -e -o pid=,ppid=,ni=,nlwp=,etimes=,stat=,args= and ss -H
# -ltnp (no setproctitle): master, two HTTP workers, the gevent child, a niced cron worker.
PS = f"""18691     1   0 1 25 Sl {BIN} {ARGS}
18701 18691   0 2 24 Sl {BIN} {ARGS}
18702 18691   0 2 24 Sl {BIN} {ARGS}
18703 18691   0 2 24 Sl {BIN} gevent {ARGS}
18706 18691  10 2 24 SNl {BIN} {ARGS}
  900     1   0 1 99 Ss /usr/sbin/sshd -D
"""
SS = """LISTEN 0 16 127.0.0.1:18069 0.0.0.0:* users:(("python",pid=18702,fd=5),("python",pid=18701,fd=5),("python",pid=18691,fd=5))
LISTEN 0 128 127.0.0.1:18072 0.0.0.0:* users:(("python",pid=18703,fd=3))
"""


def snapshot(ps: str = PS, ss: str = SS) -> Snapshot:
    return Snapshot(parse_ps(ps), parse_ss_owners(ss))


def test_roles_of_a_real_prefork_tree_without_setproctitle() -> None:
    snap = snapshot()
    master = find_master(snap, None, 18069)
    assert master is not None and master.pid == 18691
    roles = classify(snap, master, 18069, 18072)
    assert roles.mode == "workers"
    assert roles.pids() == {"http": {18701, 18702}, "cron": {18706}, "gevent": {18703}}
    # A declared pid (pidfile, systemd MainPID) wins; one that is not running finds nothing.
    assert find_master(snap, 18691, None) == master
    assert find_master(snap, 4242, 18069) is None


def test_stopped_and_zombie_children_hold_no_role() -> None:
    ps = PS.replace("18702 18691   0 2 24 Sl", "18702 18691   0 2 24 Tl")  # SIGSTOP
    ps += "18710 18691   0 1 3 Z [python3] <defunct>\n"
    snap = snapshot(ps)
    roles = classify(snap, find_master(snap, None, 18069), 18069, 18072)
    assert roles.pids() == {"http": {18701}, "cron": {18706}, "gevent": {18703}}
    assert {p.pid: p.state for p in roles.not_alive} == {18702: "Tl", 18710: "Z"}
    docker = {"Titles": ["PID", "PPID", "NI", "NLWP", "ELAPSED", "STAT", "CMD"],
              "Processes": [["7", "1", "0", "3", "29", "Ts", ODOO]]}  # fmt: skip
    assert not parse_top_columns(docker)[7].alive


def test_roles_without_socket_facts_use_nice_and_argv() -> None:
    roles = classify(snapshot(ss=""), find_master(snapshot(ss=""), None, None), None, None)
    assert roles.pids() == {"http": {18701, 18702}, "cron": {18706}, "gevent": {18703}}


def test_gevent_respawning_is_a_churn_and_a_healthy_tree_is_not() -> None:
    samples = []
    for gevent_pid in (19502, 19513, 19521):
        ps = PS.replace("18703 18691", f"{gevent_pid} 18691")
        snap = snapshot(ps, SS.replace("pid=18703", f"pid={gevent_pid}"))
        samples.append(classify(snap, find_master(snap, None, 18069), 18069, 18072))
    (loop,) = churn(samples)
    assert (loop.role, loop.pids_seen, loop.most_at_once) == ("gevent", 3, 1)
    steady = [classify(snapshot(), find_master(snapshot(), None, 18069), 18069, 18072)] * 3
    assert churn(steady) == []


def test_container_top_in_docker_columns_podman_rows_and_titles() -> None:
    docker = {
        "Titles": ["PID", "PPID", "NI", "NLWP", "ELAPSED", "CMD"],
        "Processes": [["1", "0", "0", "1", "30", "tini -- odoo"], ["7", "1", "0", "1", "29", ODOO]],
    }
    podman = {
        "Titles": ["PID   PPID   NI   ELAPSED   COMMAND"],
        "Processes": [["1 0 0 30 tini -- odoo"], [f"7 1 0 29 {ODOO}"]],
    }
    assert parse_top_columns(docker)[7].argv == parse_top_columns(podman)[7].argv
    assert parse_top_columns({"Titles": ["USER", "COMMAND"], "Processes": []}) == {}
    titled = Snapshot(
        parse_top_columns(
            {
                "Titles": ["PID", "PPID", "CMD"],
                "Processes": [
                    ["1", "0", "tini -- odoo"],
                    ["7", "1", ODOO],
                    ["8", "7", "odoo: WorkerHTTP (8)"],
                    ["9", "7", "odoo: WorkerCron (9)"],
                    ["10", "7", "odoo: WorkerHTTP (10)"],
                ],
            }
        )
    )
    master = find_master(titled, None, None)
    assert master is not None and master.pid == 7  # tini names odoo too: not the master
    assert classify(titled, master, None, None).pids() == {
        "http": {8, 10},
        "cron": {9},
        "gevent": set(),
    }


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


def test_what_a_deploy_expects_against_what_runs(tmp_path: Path) -> None:
    base = {
        "services": {
            "odoo": {
                "image": "odoo:${ODOO_TAG:-18.0}",
                "volumes": [
                    "./addons:/mnt/extra-addons:ro",
                    "filestore:/var/lib/odoo",
                    {"type": "bind", "source": "/srv/odoo.conf", "target": "/etc/odoo/odoo.conf"},
                ],
            }
        }
    }
    prod = {"services": {"odoo": {"image": "odoo:18.0@sha256:" + "a" * 64}}}
    expected = expected_service([(tmp_path / "compose.yaml", base), (tmp_path / "p.yaml", prod)],
                                "odoo")  # fmt: skip
    assert expected.image == "odoo:18.0@sha256:" + "a" * 64  # the later file wins
    assert expected.binds == tuple(sorted([str(tmp_path / "addons"), "/srv/odoo.conf"]))
    since = datetime(2026, 12, 5, 10, 0, 0)
    attrs = {
        "Name": "/stack-odoo-1",
        "State": {"StartedAt": "2026-12-05T11:00:01.123456789+01:00"},  # 10:00:01 UTC
        "Config": {"Image": "docker.io/library/odoo:18.0@sha256:" + "a" * 64,
                   "Labels": {"org.opencontainers.image.revision": "b" * 40}},
        "Mounts": [{"Type": "bind", "Source": str(tmp_path / "addons")},
                   {"Type": "bind", "Source": "/srv/odoo.conf"}],
    }  # fmt: skip
    assert judge_container(attrs, expected, since, "b" * 40) == []
    assert [c for c, _ in judge_container(attrs, expected, since, "c" * 40)] == [
        "revision_mismatch"
    ]
    older = {**attrs, "State": {"StartedAt": "2026-12-05T09:59:59Z"}}
    assert [c for c, _ in judge_container(older, expected, since, None)] == ["code_stale"]
    # The same second as the deploy, but after it: not stale (the seconds alone said so).
    deploy = datetime(2026, 12, 5, 10, 0, 0, 7000)
    same_second = {**attrs, "State": {"StartedAt": "2026-12-05T10:00:00.939970027Z"}}
    assert judge_container(same_second, expected, deploy, "b" * 40) == []
    early = {**attrs, "State": {"StartedAt": "2026-12-05T10:00:00.000500Z"}}
    assert [c for c, _ in judge_container(early, expected, deploy, None)] == ["code_stale"]
    assert judge_processes({7: 30.0, 8: 29.0}, since, since + timedelta(seconds=30)) == []
    (stale,) = judge_processes({7: 90.0, 8: 29.0}, since, since + timedelta(seconds=30))
    assert stale[0] == "code_stale" and "process(es) 7 started before" in stale[1]
