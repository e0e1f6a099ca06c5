"""The whole post-deploy suite against a stack run by podman-compose: the Odoo stand-in with two
workers and its own PostgreSQL server, both containers, seen through the Docker API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import run_suite, seed_modules, set_env_keys
from loopback import free_port, wait_port
from odoo_db import make_odoo_db
from podman_bed import podman
from routing_proxy import RoutingProxy

POSTDEPLOY = {
    "db.reachable",
    "db.migrations_applied",
    "http.health",
    "http.longpolling",
    "http.assets",
    "runtime.workers",
    "runtime.code_current",
    "logs.no_errors",
    "http.error_rate",
    "net.no_public_ports",
}


def test_compose_stack_passes_then_losing_its_database_fails(
    demo_stack: Path, bed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = bed.project(tmp_path)
    odoo_port, db_port, gevent_port = free_port(), free_port(), free_port()
    ports = {"odoo_port": odoo_port, "db_port": db_port, "gevent_port": gevent_port}
    proxy = RoutingProxy(odoo_port, gevent_port)  # the public URL, routed as nginx would
    compose = tmp_path / "compose.yaml"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 2))
    try:
        bed.compose_file(compose, **ports, workers=2, database="x")
        up = bed.compose(compose, project, "up", "-d", "db")
        assert up.returncode == 0, up.stderr
        wait_port(db_port)
        db = _retry(
            lambda: make_odoo_db(
                tmp_path, 50, 1, f"postgresql://postgres@127.0.0.1:{db_port}/postgres"
            )
        )
        seed_modules(db)
        bed.compose_file(compose, **ports, workers=2, database=db.name)
        up = bed.compose(compose, project, "up", "-d", "odoo")
        assert up.returncode == 0, up.stderr
        wait_port(odoo_port)
        monkeypatch.setenv("DEMO_DSN", db.dsn)
        set_env_keys(
            demo_stack,
            database=db.name,
            base_url=proxy.url,
            longpolling_url=f"http://127.0.0.1:{gevent_port}",
            engine_socket=bed.socket,
            compose_project=project,
            services={"odoo": "odoo", "db": "db"},
            compose_files=[str(compose)],  # what runs: runtime.code_current compares with it
            workers=2,
            log_source={"container": "odoo"},
            port_allowlist=[],  # this process's namespace: only the stack listens
        )
        with requests.Session() as session:
            for _ in range(30):
                assert session.get(f"http://127.0.0.1:{odoo_port}/web/login", timeout=5).ok

        proc, results = run_suite(demo_stack, "postdeploy", "--", "--ipai-since", since)
        assert proc.returncode == 0, proc.stdout
        assert {g: r["status"] for g, r in results.items()} == dict.fromkeys(POSTDEPLOY, "pass")
        containers = results["runtime.workers"]["measurements"]["containers"]
        assert sorted(containers) == [f"{project}_db_1", f"{project}_odoo_1"]

        podman("stop", "-t", "2", f"{project}_db_1")
        proc, results = run_suite(demo_stack, "postdeploy", "--", "--ipai-since", since)
        assert proc.returncode == 1
        outcome = {g: (r["status"], r["error_class"]) for g, r in results.items()}
        assert outcome["db.reachable"] == ("fail", "db_unreachable")
        assert outcome["db.migrations_applied"] == ("error", "db_unreachable")
        assert outcome["http.health"] == ("fail", "health_failed")
        assert outcome["runtime.workers"] == ("fail", "container_not_running")
        assert f"{project}_db_1: exited" in results["runtime.workers"]["message"]
    finally:
        proxy.close()
        down = bed.compose(compose, project, "down", "-t", "1")
        assert down.returncode == 0, down.stderr


def _retry(make: Any) -> Any:
    """The server accepts TCP a moment before it accepts logins: retry briefly."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return make()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
