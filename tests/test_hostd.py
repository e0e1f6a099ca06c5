"""ipai hostd serve and ipai doctor: a real uvicorn server on loopback, real runs of the
post-deploy suite against the stand-in container, run records on disk."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import IPAI, ROOT, run_ipai, set_env_keys

TOKEN = "s3cret-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Hostd:
    def __init__(self, stack: Path, tmp: Path) -> None:
        self.stack = stack
        self.port = free_port()
        self.token_file = tmp / "hostd.token"
        self.runs = tmp / "runs"
        self.log = tmp / "hostd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.container = ""
        state = tmp / "state" / "state.json"
        state.parent.mkdir()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 5))
        state.write_text(json.dumps({"last_deploy_timestamp": stamp}))
        self.maintenance = state.parent / "maintenance-dev.json"
        set_env_keys(
            stack,
            state_file=str(state),
            hostd={
                "listen": f"127.0.0.1:{self.port}",
                "token_file": str(self.token_file),
                "runs_dir": str(self.runs),
                "run_ttl_minutes": 10,
            },
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*IPAI, "hostd", "serve", "--config", str(self.stack / "ipai.toml")],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, self.log.read_text()
                time.sleep(0.1)
        raise AssertionError("hostd did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def exec(self, action: str, token: str | None = TOKEN, **extra: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        headers.update(extra.pop("headers", {}))
        return requests.post(
            f"{self.url}/api/exec", json={"action": action, **extra}, headers=headers, timeout=10
        )

    def run(self, run_id: str, token: str = TOKEN) -> requests.Response:
        return requests.get(
            f"{self.url}/api/runs",
            params={"id": run_id},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def wait(self, run_id: str, seconds: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            record: dict[str, Any] = self.run(run_id).json()
            if record["status"] != "running":
                return record
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} still running")


@pytest.fixture
def hostd(stack_db: Any, odoo: Any, tmp_path: Path) -> Iterator[Hostd]:
    stack, _ = stack_db
    container = odoo().name  # a healthy stand-in container: the doctor passes
    from test_network_gate import allow, current_public

    allow(stack, current_public())
    server = Hostd(stack, tmp_path)
    server.token_file.write_text(TOKEN + "\n")
    server.container = container
    server.start()
    yield server
    server.kill()
    assert TOKEN not in server.log.read_text()  # the token never reaches the log


def test_auth_matrix(hostd: Hostd) -> None:
    def outcome(response: requests.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error_class"]

    assert outcome(hostd.exec("doctor", token="wrong")) == (403, "HOSTD_FORBIDDEN")
    assert outcome(hostd.exec("doctor", token=None)) == (403, "HOSTD_FORBIDDEN")
    assert outcome(hostd.exec("rm_rf", token="wrong")) == (403, "HOSTD_FORBIDDEN")  # auth first
    assert outcome(hostd.exec("rm_rf")) == (403, "ACTION_NOT_ALLOWED")
    assert outcome(hostd.run("20261202T000000Z-00000000", token="wrong")) == (
        403,
        "HOSTD_FORBIDDEN",
    )
    assert outcome(hostd.run("20261202T000000Z-00000000")) == (404, "RUN_NOT_FOUND")
    assert outcome(hostd.exec("deploy_and_verify", ref="main")) == (400, "INVALID_REQUEST")
    hostd.token_file.write_text("\n")
    assert outcome(hostd.exec("doctor")) == (503, "HOSTD_AUTH_MISSING")
    hostd.token_file.unlink()
    assert outcome(hostd.exec("doctor")) == (503, "HOSTD_AUTH_MISSING")
    assert outcome(hostd.run("20261202T000000Z-00000000")) == (503, "HOSTD_AUTH_MISSING")
    assert not list(hostd.runs.glob("*.json"))  # nothing ran


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:8787", "[::]:8787", "192.0.2.10:8787", "example.invalid:80"]
)
def test_refuses_to_bind_anything_but_loopback(demo_stack: Path, listen: str) -> None:
    proc = run_ipai("hostd", "serve", "--config", str(demo_stack / "ipai.toml"), "--listen", listen)
    assert proc.returncode == 2
    assert "hostd_bind_refused" in proc.stderr and proc.stderr.count("\n") == 1


def test_shipped_openapi_document_is_the_apps() -> None:
    proc = run_ipai("hostd", "openapi")
    assert proc.returncode == 0
    shipped = (ROOT / "schemas" / "hostd.openapi.json").read_text()
    assert json.loads(proc.stdout) == json.loads(shipped)


def test_schemathesis_finds_no_5xx_and_runs_nothing_without_the_token(hostd: Hostd) -> None:
    for headers in ([], ["-H", "Authorization: Bearer not-the-token"]):
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                str(ROOT / "schemas" / "hostd.openapi.json"),
                "--url",
                hostd.url,
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "40",
                "--seed",
                "7",
                "--request-timeout",
                "10",
                *headers,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert not list(hostd.runs.glob("*.json"))  # no action ran
