"""The Odoo stand-in keeps the contracts a real Odoo 18.0 server was observed to keep; a
difference here would let a gate pass on the stand-in and fail on the real thing."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from standin_process import Standin

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/none"


@pytest.fixture
def started(tmp_path: Path) -> Any:
    servers: list[Standin] = []

    def start(*flags: str, dsn: str | None = None) -> Standin:
        server = Standin(dsn, tmp_path / f"odoo-{len(servers)}.log", *flags)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def test_login_page_is_odoos_without_website(started: Any) -> None:
    server = started()
    login = requests.get(f"{server.url}/web/login", timeout=5)
    assert login.status_code == 200
    assert 'name="generator"' not in login.text  # only website's templates render it
    assert "odoo.__session_info__" in login.text and "csrf_token" in login.text
    assert '"websocket_worker_version": "18.0-5"' in login.text
    assert re.search(r'/web/assets/[0-9a-f]{7}/web\.assets_frontend\.min\.css"', login.text)
    assert login.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert login.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert login.headers["Set-Cookie"].startswith("session_id=")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token and re.fullmatch(r"[0-9a-f]{40}o\d{10}", token.group(1))


def test_version_info_is_json_rpc_only(started: Any) -> None:
    server = started()
    url = f"{server.url}/web/webclient/version_info"
    body = {"jsonrpc": "2.0", "method": "call", "params": {}, "id": 7}
    answer = requests.post(url, json=body, timeout=5).json()
    assert answer["id"] == 7
    assert answer["result"]["server_serie"] == "18.0"
    assert answer["result"]["server_version_info"][:2] == [18, 0]
    wrong = requests.get(url, timeout=5)
    assert wrong.status_code == 400
    assert "is type=&#39;json&#39;" in wrong.text


def test_rpc_errors_answer_200_and_log(started: Any) -> None:
    server = started()
    missing = requests.post(
        f"{server.url}/web/dataset/call_kw/res.partner/nope", json={}, timeout=5
    )
    denied = requests.post(
        f"{server.url}/web/dataset/call_kw/res.partner/read_denied", json={}, timeout=5
    )
    assert (missing.status_code, denied.status_code) == (200, 200)
    assert "error" in missing.json() and "error" in denied.json()
    log = server.log.read_text()
    assert " ERROR evaldb odoo.http: Exception during JSON request handling." in log
    assert " WARNING evaldb odoo.http.rpc: Access Denied" in log


def test_a_5xx_comes_with_an_error_record_and_never_a_502(started: Any) -> None:
    server = started("--error-share", "1.0")
    statuses = {requests.get(f"{server.url}/web/login", timeout=5).status_code for _ in range(5)}
    assert statuses == {500}
    log = server.log.read_text()
    assert log.count("ERROR evaldb odoo.http: Exception during request handling.") == 5
    assert log.count("Traceback (most recent call last):") == 5


def test_postgresql_down(started: Any) -> None:
    server = started(dsn=UNREACHABLE)
    login = requests.get(f"{server.url}/web/login", timeout=10, allow_redirects=False)
    assert (login.status_code, login.headers["Location"]) == (302, "/web/login")
    health = requests.get(f"{server.url}/web/health", timeout=10)
    assert health.json() == {"status": "pass"}  # without db_server_status nothing is checked
    status = requests.get(f"{server.url}/web/health?db_server_status=1", timeout=10)
    assert status.json() == {"status": "fail", "db_server_status": False}


def test_a_hang_that_never_answers(started: Any) -> None:
    server = started("--never-answer")
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as conn:
        conn.sendall(b"GET /web/health HTTP/1.1\r\nHost: odoo\r\n\r\n")
        conn.settimeout(1.0)
        with pytest.raises(TimeoutError):
            conn.recv(1)  # accepted by the kernel's backlog, never by Odoo


def test_log_lines_and_threaded_process(started: Any) -> None:
    server = started("--max-cron-threads", "2")
    requests.get(f"{server.url}/web/login", timeout=5)
    lines = server.log.read_text().splitlines()
    assert all(line.endswith(" ") for line in lines)
    assert any(" INFO ? odoo.service.server: Odoo version 18.0 " in line for line in lines)
    assert any(f"running on localhost:{server.port}" in line for line in lines)
    stamp = time.strftime("%Y-%m-%d %H:", time.gmtime())
    assert any(line.startswith(stamp) for line in lines)  # UTC
    time.sleep(0.5)
    threads = psutil.Process(server.proc.pid).num_threads()
    assert threads == 4  # main, HTTP server, two cron threads


def test_workers_mode_tree(started: Any) -> None:
    server = started("--workers", "2", "--max-cron-threads", "1")
    time.sleep(1.5)
    children = psutil.Process(server.proc.pid).children()
    argvs = [c.cmdline() for c in children]
    assert sum("gevent" in argv for argv in argvs) == 1
    niced = [c for c in children if c.nice() > 0]
    assert len(niced) == 1  # the cron worker
    assert len(children) == 4  # two HTTP workers, one cron worker, the gevent child
    log = json.dumps(server.log.read_text())
    assert log.count("Worker WorkerHTTP") == 2 and log.count("Worker WorkerCron") == 1
