"""Post-deploy gates against the stand-in running as containers on the podman test bed, spoken
to through the Docker API exactly as a Docker host would be."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import by_gate, only_pack, postdeploy, set_env_keys
from loopback import free_port
from podman_bed import podman, podman_env, python_in_container


def now_minus(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - seconds))


def only(stack: Path, keyword: str, *extra: str) -> dict[str, dict[str, Any]]:
    return postdeploy(stack, "--", "-k", keyword, *extra)


def traffic(stack: Path, count: int, path: str = "/web/login") -> None:
    text = (stack / "ipai.toml").read_text()
    base = text.split('base_url = "', 1)[1].split('"', 1)[0]
    with requests.Session() as session:
        for _ in range(count):
            session.get(base + path, timeout=5)


def test_healthy_container_passes_runtime_logs_and_rate(stack_db: Any, odoo: Any) -> None:
    stack, _ = stack_db
    since = now_minus(2)
    odoo()
    traffic(stack, 30)
    results = only(stack, "workers or errors or rate or health", "--ipai-since", since)
    for gate in ("runtime.workers", "logs.no_errors", "http.error_rate", "http.health"):
        assert results[gate]["status"] == "pass", results[gate]
    workers = results["runtime.workers"]
    (roles,) = [v for k, v in workers["measurements"].items() if k.startswith("roles ")]
    assert roles["mode"] == "workers"
    assert (len(roles["http"]), len(roles["cron"]), len(roles["gevent"])) == (2, 2, 1)
    assert {b["name"] for b in workers["blobs"]} >= {"inspect odoo.json", "odoo processes.json"}
    assert results["logs.no_errors"]["measurements"]["bytes_read"] > 0


def test_a_dying_worker_is_a_crash_loop_and_fewer_workers_are_missing(
    stack_db: Any, odoo: Any
) -> None:
    stack, _ = stack_db
    odoo("--worker-dies-after", "0.2")  # Odoo respawns it; it dies again
    result = only(stack, "workers")["runtime.workers"]
    assert (result["status"], result["error_class"]) == ("fail", "workers_crash_loop")
    assert "http processes respawn in a loop" in result["message"]
    # --workers=1 against workers = 2: four children used to pass a count of two.
    odoo(workers=1)
    result = only(stack, "workers")["runtime.workers"]
    assert (result["status"], result["error_class"]) == ("fail", "workers_missing")
    assert "1 HTTP workers under master pid" in result["message"]
    assert "expected 2" in result["message"]


def test_stopped_missing_and_unhealthy_containers(stack_db: Any, odoo: Any, bed: Any) -> None:
    stack, _ = stack_db
    name = odoo().name
    set_env_keys(stack, services={"odoo": "odoo", "db": "db"})
    result = only(stack, "workers")["runtime.workers"]
    assert (result["status"], result["error_class"]) == ("fail", "container_not_running")
    assert "db (db): no container" in result["message"]

    set_env_keys(stack, services={"odoo": "odoo"})
    podman("stop", "-t", "1", name)
    result = only(stack, "workers")["runtime.workers"]
    assert (result["status"], result["error_class"]) == ("fail", "container_not_running")
    assert f"{name}: exited" in result["message"]


def test_unhealthy_container(stack_db: Any, bed: Any, tmp_path: Path) -> None:
    stack, _ = stack_db
    project = bed.project(tmp_path)
    sick = f"{project}-sick"
    bed.run(
        sick,
        [python_in_container(), "-c", "import time; time.sleep(600)"],
        service="worker",
        project=project,
        healthcheck=[python_in_container(), "-c", "raise SystemExit(1)"],
    )
    try:
        for _ in range(3):  # podman marks a container unhealthy after its third failed check
            podman("healthcheck", "run", sick, check=False)
        set_env_keys(stack, services={"queue": "worker"}, workers=0)
        result = only(stack, "workers")["runtime.workers"]
        assert (result["status"], result["error_class"]) == ("fail", "container_not_running")
        assert "health unhealthy" in result["message"]
    finally:
        bed.remove(sick)


def test_engine_socket_missing_is_an_error(stack_db: Any, odoo: Any, tmp_path: Path) -> None:
    """Each gate fails closed on its own (``ipai gate`` refuses before the suite, see
    test_cli_manners; pytest and the deploy driver run the gates regardless)."""
    stack, _ = stack_db
    odoo()
    set_env_keys(stack, engine_socket=f"unix://{tmp_path}/no-engine.sock")
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "postdeploy"),
            *("--ipai-config", str(stack / "ipai.toml"), "-k", "workers or errors or public"),
            *("--ipai-since", now_minus(5)),
        ],
        cwd=stack,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = by_gate(only_pack(stack / "evidence"))
    assert (results["runtime.workers"]["status"], results["runtime.workers"]["error_class"]) == (
        "error",
        "engine_unavailable",
    )
    assert "no-engine.sock: no such socket" in results["runtime.workers"]["message"]
    logs = results["logs.no_errors"]
    assert (logs["status"], logs["error_class"]) == ("error", "log_source_unavailable")
    net = results["net.no_public_ports"]
    assert (net["status"], net["error_class"]) == ("error", "net_probe_unavailable")


def test_container_tracebacks_and_5xx(stack_db: Any, odoo: Any) -> None:
    stack, _ = stack_db
    since = now_minus(2)
    odoo("--traceback-every", "7", "--error-share", "0.3")
    traffic(stack, 40)
    results = only(stack, "errors or rate", "--ipai-since", since)
    logs = results["logs.no_errors"]
    assert (logs["status"], logs["error_class"]) == ("fail", "log_error")
    assert "odoo.http" in logs["message"]
    rate = results["http.error_rate"]
    assert (rate["status"], rate["error_class"]) == ("fail", "error_rate_exceeded")


def test_logs_before_the_deploy_do_not_count(stack_db: Any, odoo: Any) -> None:
    stack, _ = stack_db
    odoo("--traceback-every", "1")
    traffic(stack, 3)
    time.sleep(1.1)
    since = now_minus(0)
    time.sleep(1.1)
    result = only(stack, "errors", "--ipai-since", since)["logs.no_errors"]
    # The tracebacks were logged before the deploy start: read (the source is live), not counted.
    assert result["status"] == "pass", result
    assert result["measurements"]["before_deploy"] >= 3


def test_published_ports_fail_and_loopback_bindings_pass(stack_db: Any, odoo: Any) -> None:
    from test_network_gate import allow

    stack, _ = stack_db
    allow(stack, [])
    for address, shown in (("0.0.0.0", "0.0.0.0:{port}"), ("[::]", "[::]:{port}")):
        port = free_port()
        started = odoo(network="bridge", publish=[f"{address}:{port}:{port}"], wait=False)
        result = only(stack, "public")["net.no_public_ports"]
        assert (result["status"], result["error_class"]) == ("fail", "public_port"), result
        assert (
            f"published {shown.format(port=port)} -> {started.name}:{port}/tcp"
            in (result["message"])
        )
        assert "port bindings.json" in {b["name"] for b in result["blobs"]}
    port = free_port()
    odoo(network="bridge", publish=[f"127.0.0.1:{port}:{port}"], wait=False)
    result = only(stack, "public")["net.no_public_ports"]
    assert result["status"] == "pass", result
    assert result["measurements"]["published"] >= 1


def test_podman_target_reads_the_containers_sockets(
    stack_db: Any, odoo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--hosts podman://NAME: ss runs inside that container (testinfra's podman backend)."""
    stack, _ = stack_db
    started = odoo(network="bridge", wait=False)
    time.sleep(1.0)
    set_env_keys(stack, services=None, engine_socket=None)  # sockets only
    monkeypatch.setenv("CONTAINERS_CONF", podman_env()["CONTAINERS_CONF"])  # testinfra's podman
    target = f"podman://{started.name}"
    results = postdeploy(stack, "--hosts", target, "--", "-k", "public", "--ipai-net-scope", "host")
    result = results["net.no_public_ports"]
    assert (result["status"], result["error_class"]) == ("fail", "public_port"), result
    assert f"tcp 0.0.0.0:{started.port} (pid " in result["message"]
    assert f"ss -H -ltnup on {target}" in {b["name"] for b in result["blobs"]}


def test_a_container_still_starting_fails_health_after_its_retries(
    stack_db: Any, odoo: Any
) -> None:
    stack, _ = stack_db
    odoo("--start-delay", "120", wait=False)  # the container runs; Odoo is not listening yet
    result = only(stack, "health")["http.health"]
    assert (result["status"], result["error_class"]) == ("fail", "health_failed")
    assert [a["outcome"] for a in result["attempts"]] == ["failed"] * 3


def test_a_container_whose_database_is_down_fails_health(stack_db: Any, odoo: Any) -> None:
    stack, _ = stack_db
    odoo(dsn="postgresql://postgres@127.0.0.1:1/none")  # PostgreSQL refuses the connection
    result = only(stack, "health")["http.health"]
    assert (result["status"], result["error_class"]) == ("fail", "health_failed")
    assert 'HTTP 500 {"status": "fail", "db_server_status": false}' in result["message"]


def test_host_mode_through_a_testinfra_backend(
    stack_db: Any, odoo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """host_process on another host: the same roles, read with ps and ss through testinfra
    (here its podman backend, into a container that runs Odoo as a host would)."""
    stack, _ = stack_db
    monkeypatch.setenv("CONTAINERS_CONF", podman_env()["CONTAINERS_CONF"])

    def on_the_host(started: Any) -> dict[str, Any]:
        text = (stack / "ipai.toml").read_text()
        gevent = int(text.split('longpolling_url = "http://127.0.0.1:', 1)[1].split('"', 1)[0])
        time.sleep(1.5)
        set_env_keys(
            stack,
            services=None,
            engine_socket=None,
            host_process={"http_port": started.port, "gevent_port": gevent},
        )
        target = f"podman://{started.name}"
        found: dict[str, Any] = postdeploy(stack, "--hosts", target, "--", "-k", "workers")[
            "runtime.workers"
        ]
        return found

    # On its own network the container cannot reach the test's PostgreSQL: as with PostgreSQL
    # down, Odoo's cron workers die and are respawned, several times a second.
    result = on_the_host(odoo(network="bridge", wait=False))
    assert (result["status"], result["error_class"]) == ("fail", "workers_crash_loop")
    assert "cron processes respawn in a loop" in result["message"]
    result = on_the_host(odoo(network="bridge", wait=False, dsn=None))
    assert result["status"] == "pass", result["message"]
    (roles,) = [v for k, v in result["measurements"].items() if k.startswith("roles ")]
    assert (len(roles["http"]), len(roles["cron"]), len(roles["gevent"])) == (2, 2, 1)


def test_a_service_of_two_compose_projects_is_ambiguous(
    stack_db: Any, bed: Any, tmp_path: Path
) -> None:
    """Two stacks on one engine, both with a "worker" service: without compose_project the gate
    cannot know which is this stack's, and says so rather than judging the other one."""
    stack, _ = stack_db
    ours, theirs = f"{bed.project(tmp_path)}a", f"{bed.project(tmp_path)}b"
    names = [f"{ours}-worker", f"{theirs}-worker"]
    try:
        for name, project in zip(names, (ours, theirs), strict=True):
            bed.run(name, [python_in_container(), "-c", "import time; time.sleep(600)"],
                    service="worker", project=project)  # fmt: skip
        set_env_keys(stack, services={"queue": "worker"}, workers=0, compose_project=None)
        result = only(stack, "workers")["runtime.workers"]
        assert (result["status"], result["error_class"]) == ("error", "ambiguous_service")
        assert f"2 compose projects ({ours}, {theirs})" in result["message"]
        assert "set compose_project" in result["message"]
        set_env_keys(stack, compose_project=ours)
        assert only(stack, "workers")["runtime.workers"]["status"] == "pass"
    finally:
        bed.remove(*names)


def test_the_running_code_is_the_deployed_code(stack_db: Any, odoo: Any) -> None:
    """A container started after the deploy, from the image and with the mounts the compose
    files name, passes; one older than the deploy serves the code it started with; one that
    runs another image, or lacks a mount, is not what was deployed."""
    stack, _ = stack_db
    since = now_minus(2)
    odoo()
    result = only(stack, "code_current", "--ipai-since", since)["runtime.code_current"]
    assert result["status"] == "pass", result["message"]
    later = now_minus(-60)  # a deploy that started after this container: nothing restarted it
    result = only(stack, "code_current", "--ipai-since", later)["runtime.code_current"]
    assert (result["status"], result["error_class"]) == ("fail", "code_stale")
    assert "it serves the code it started with" in result["message"]
    running = stack / "deploy" / "running.yaml"
    text = running.read_text()
    running.write_text(text.replace("image: ", "image: odoo:18.0 #", 1)
                       + "    - ./odoo.conf:/etc/odoo/odoo.conf:ro\n")  # fmt: skip
    result = only(stack, "code_current", "--ipai-since", since)["runtime.code_current"]
    assert result["error_class"] == "image_not_deployed"
    assert "the compose files say odoo:18.0" in result["message"]
    assert "mounts_not_deployed" in result["measurements"]["error_classes"]
    assert str(stack / "deploy" / "odoo.conf") in result["message"]  # the project directory's
