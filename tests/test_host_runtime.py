"""runtime.workers in host mode (Odoo run by systemd, supervisor or by hand; psutil on this
machine) against the stand-in's real process trees: roles without setproctitle, a --workers
that differs from the configuration, a gevent child respawning, dead cron threads."""

from __future__ import annotations

import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg
from conftest import postdeploy, set_env_keys
from loopback import free_port


def runtime(stack: Path) -> dict[str, Any]:
    result: dict[str, Any] = postdeploy(stack, "--", "-k", "workers")["runtime.workers"]
    return result


def host_mode(stack: Path, port: int, gevent: int, workers: int, **process: Any) -> None:
    set_env_keys(
        stack,
        services=None,
        workers=workers,
        max_cron_threads=2,
        host_process={"http_port": port, "gevent_port": gevent, **process},
    )


def test_workers_tree_found_by_pidfile_or_by_its_socket(
    stack_db: Any, standin: Any, tmp_path: Path
) -> None:
    stack, _ = stack_db
    gevent, pidfile = free_port(), tmp_path / "odoo.pid"
    server = standin("--workers", "2", "--gevent-port", str(gevent), "--pidfile", str(pidfile))
    host_mode(stack, server.port, gevent, 2, pidfile=str(pidfile))
    result = runtime(stack)
    assert result["status"] == "pass", result["message"]
    (roles,) = [v for k, v in result["measurements"].items() if k.startswith("roles ")]
    assert roles["master"] == int(pidfile.read_text())
    assert (len(roles["http"]), len(roles["cron"]), len(roles["gevent"])) == (2, 2, 1)
    host_mode(stack, server.port, gevent, 2)  # no pidfile: the HTTP socket's owner
    assert runtime(stack)["status"] == "pass"
    pidfile.write_text("999999\n")  # a stale pidfile is not a guess
    host_mode(stack, server.port, gevent, 2, pidfile=str(pidfile))
    result = runtime(stack)
    assert (result["status"], result["error_class"]) == ("fail", "workers_missing")
    assert "pid 999999 (declared) is not running" in result["message"]


def test_fewer_workers_than_configured_fail(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    gevent = free_port()
    server = standin("--workers", "1", "--gevent-port", str(gevent))
    host_mode(stack, server.port, gevent, 2)
    result = runtime(stack)
    assert (result["status"], result["error_class"]) == ("fail", "workers_missing")
    assert "1 HTTP workers under master pid" in result["message"]
    assert "expected 2" in result["message"]


def test_a_gevent_child_that_cannot_bind_respawns_in_a_loop(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    gevent = free_port()
    blocker = socket.create_server(("127.0.0.1", gevent))
    try:
        server = standin("--workers", "2", "--gevent-port", str(gevent))
        host_mode(stack, server.port, gevent, 2)
        result = runtime(stack)
        assert (result["status"], result["error_class"]) == ("fail", "workers_crash_loop")
        assert "gevent processes respawn in a loop" in result["message"]
        log = server.log.read_text()
        assert "Evented Service (longpolling): uncaught error during main loop" in log
    finally:
        blocker.close()


def test_threaded_cron_threads_die_for_good_when_postgresql_goes(
    stack_db: Any, standin: Any
) -> None:
    stack, db = stack_db
    role = f"standin_{uuid.uuid4().hex[:8]}"
    admin = db.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        dsn = db.dsn.replace("postgres@", f"{role}@", 1)
        server = standin("--max-cron-threads", "2", dsn=dsn)
        host_mode(stack, server.port, free_port(), 0)
        result = runtime(stack)
        assert result["status"] == "pass", result["message"]
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'ALTER ROLE "{role}" NOLOGIN')  # as if PostgreSQL went away
            time.sleep(2.0)
            conn.execute(f'ALTER ROLE "{role}" LOGIN')  # and came back
        result = runtime(stack)
        assert (result["status"], result["error_class"]) == ("fail", "cron_threads_dead")
        assert "expected 4 (main, HTTP server, 2 cron)" in result["message"]
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_whole_post_deploy_suite_passes_in_host_mode(stack_db: Any, standin: Any) -> None:
    """Odoo on the host in workers mode behind a proxy: every gate passes, none needs an
    engine."""
    import requests
    from routing_proxy import RoutingProxy

    stack, _ = stack_db
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 2))
    gevent = free_port()
    server = standin("--workers", "2", "--gevent-port", str(gevent))
    proxy = RoutingProxy(server.port, gevent)
    try:
        set_env_keys(
            stack,
            base_url=proxy.url,
            longpolling_url=f"http://127.0.0.1:{gevent}",
            log_source={"file": str(server.log)},
            engine_socket=None,
            port_allowlist=[],
        )
        host_mode(stack, server.port, gevent, 2)
        with requests.Session() as session:
            for _ in range(25):
                assert session.get(f"{proxy.url}/web/login", timeout=5).ok
        results = postdeploy(stack, "--", "--ipai-since", since)
        assert {g: r["status"] for g, r in results.items()} == dict.fromkeys(results, "pass"), {
            g: r["message"] for g, r in results.items() if r["status"] != "pass"
        }
        assert len(results) == 10
        ages = results["runtime.code_current"]["measurements"]["processes"]
        assert len(ages) >= 5  # master, 2 HTTP, 2 cron (+ gevent): each started after `since`
    finally:
        proxy.close()


def test_stopped_and_zombie_processes_are_not_workers(stack_db: Any, standin: Any) -> None:
    """A stopped HTTP worker still holds the shared socket and its argv; it serves nothing, so
    it is not counted (workers_missing, named in a notice); a stopped master is master_stopped."""
    stack, _ = stack_db
    gevent = free_port()
    server = standin("--workers", "2", "--gevent-port", str(gevent))
    host_mode(stack, server.port, gevent, 2)
    master = psutil.Process(server.proc.pid)
    # The stand-in answers HTTP once its master listens; its workers fork just after: wait
    # (bounded) until both are there rather than racing their start.
    deadline = time.monotonic() + 15
    while True:
        http = [c for c in master.children() if c.nice() == 0 and "gevent" not in c.cmdline()]
        if len(http) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(http) == 2
    stopped: list[psutil.Process] = []
    try:
        http[0].send_signal(signal.SIGSTOP)
        stopped.append(http[0])
        result = runtime(stack)
        assert (result["status"], result["error_class"]) == ("fail", "workers_missing")
        assert "1 HTTP workers under master pid" in result["message"]
        notice = result["measurements"]["notices"]["workers_not_alive"]["examples"][0]
        assert f"{http[0].pid} (T" in notice
        master.send_signal(signal.SIGSTOP)
        stopped.append(master)
        result = runtime(stack)
        assert (result["status"], result["error_class"]) == ("fail", "master_stopped")
        assert f"master pid {master.pid} is stopped" in result["message"]
    finally:
        for process in stopped:
            process.send_signal(signal.SIGCONT)
