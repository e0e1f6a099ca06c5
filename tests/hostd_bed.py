"""A real ``ipai hostd serve`` on a loopback port for tests: start, kill, ask, wait for runs."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from conftest import IPAI
from loopback import free_port, wait_port

TOKEN = "s3cret-admin-token-0123456789-abcdef"  # hostd wants 32 bytes at least


def users_traffic(port: int, requests_count: int = 25) -> None:
    """Concurrent requests to the Odoo on ``port``, so that the error-rate gate of a doctor has
    enough of them to judge (its ``min_samples`` is 20)."""
    url = f"http://127.0.0.1:{port}/"
    with ThreadPoolExecutor(max_workers=requests_count) as pool:
        list(pool.map(lambda _: requests.get(url, timeout=20), range(requests_count)))


class HostdServer:
    def __init__(self, config: Path, tmp: Path, env: Mapping[str, str] | None = None) -> None:
        self.config = config  # the stack's ipai.toml; settings() gives the keys it must hold
        self.port = free_port()
        self.token_file = tmp / "hostd.token"
        self.runs = tmp / "runs"
        self.log = tmp / "hostd.log"
        self.env = None if env is None else dict(env)
        self.proc: subprocess.Popen[bytes] | None = None

    def settings(self) -> dict[str, Any]:
        """The ``hostd`` table of the environment that serves on this object's port."""
        return {
            "listen": f"127.0.0.1:{self.port}",
            "token_file": str(self.token_file),
            "runs_dir": str(self.runs),
            "run_ttl_minutes": 10,
        }

    def write_token(self, token: bytes | str = TOKEN, mode: int = 0o600) -> None:
        """The token file as an operator must keep it: the owner's alone (hostd refuses
        anything more open, as ssh refuses an open key)."""
        data = token.encode("utf-8") if isinstance(token, str) else token
        self.token_file.write_bytes(data + b"\n")
        self.token_file.chmod(mode)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*IPAI, "hostd", "serve", "--config", str(self.config)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        try:
            wait_port(self.port, proc=self.proc)
        except RuntimeError as exc:
            raise AssertionError(self.log.read_text()) from exc

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
