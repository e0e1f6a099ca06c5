"""``ipai doctor [--join]``: ask hostd for the post-deploy check, or join the one running.

Joining polls the running doctor (bounded wait). After a joined run failed, one fresh run is
asked for (at most one: a failure may be stale, a second failure is not). Outcomes:
``run_passed``/``run_failed`` (our own run), ``joined_run_passed``, ``joined_run_failed``
(and the rerun's outcome), ``join_timeout``.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE, IpaiError

from .hostd import DEFAULT_LISTEN, loopback
from .hostd_gate import read_token, settings, token_file

HTTP_TIMEOUT = 10.0
POLL = 1.0


class Hostd:
    def __init__(self, config: StackConfig) -> None:
        host, port = loopback(str(settings(config).get("listen", DEFAULT_LISTEN)))
        shown = f"[{host}]" if ":" in host else host
        self.base = f"http://{shown}:{port}"
        token = read_token(config)
        if not token:
            raise IpaiError(f"hostd.token_file: no token to send ({token_file(config)})")
        self.headers = {"Authorization": b"Bearer " + token}

    def exec(self, action: str) -> tuple[int, dict[str, Any]]:
        try:
            response = requests.post(
                f"{self.base}/api/exec",
                json={"action": action},
                headers=self.headers,
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise IpaiError(f"hostd at {self.base}: {type(exc).__name__}") from None
        return response.status_code, _json(response)

    def run(self, run_id: str) -> dict[str, Any]:
        try:
            response = requests.get(
                f"{self.base}/api/runs",
                params={"id": run_id},
                headers=self.headers,
                timeout=HTTP_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise IpaiError(f"hostd at {self.base}: {type(exc).__name__}") from None
        if response.status_code != 200:
            body = _json(response)
            raise IpaiError(f"hostd: run {run_id}: {body.get('error_class', response.status_code)}")
        return _json(response)

    def wait(self, run_id: str, deadline: float) -> dict[str, Any] | None:
        while True:
            record = self.run(run_id)
            if record["status"] != "running":
                return record
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def doctor(config: StackConfig, *, join: bool, wait: float) -> int:
    hostd = Hostd(config)
    deadline = time.monotonic() + wait
    status, body = hostd.exec("doctor")
    joined = False
    if status == 409 and join:
        joined = True
        run_id = str(body["active_run_id"])
        print(f"joining doctor run {run_id} (running since {body.get('started_at')})")
    elif status == 200:
        run_id = str(body["run_id"])
        print(f"doctor run {run_id} started")
    else:
        print(f"hostd: {status} {body.get('error_class', '')}: {body.get('message', '')}")
        if status == 409:
            print(f"doctor run {body.get('active_run_id')} is running: use --join")
        return EXIT_USAGE
    record = hostd.wait(run_id, deadline)
    if record is None:
        print(f"join_timeout: run {run_id} still running after {wait:g} s")
        return EXIT_USAGE
    prefix = "joined_run" if joined else "run"
    passed = record["status"] == "passed"
    print(f"{prefix}_{'passed' if passed else 'failed'}: run {run_id}: {record.get('summary', '')}")
    if passed:
        return EXIT_OK
    if not joined:
        return EXIT_GATE_FAILED
    # A joined failure may be stale (it started before a fix): one fresh run, never more.
    status, body = hostd.exec("doctor")
    if status == 409:
        run_id = str(body["active_run_id"])  # someone else started one: that is the fresh run
    elif status == 200:
        run_id = str(body["run_id"])
    else:
        print(f"hostd: {status} {body.get('error_class', '')}: {body.get('message', '')}")
        return EXIT_GATE_FAILED
    print(f"rerun: doctor run {run_id}")
    record = hostd.wait(run_id, deadline)
    if record is None:
        print(f"join_timeout: rerun {run_id} still running after {wait:g} s")
        return EXIT_USAGE
    passed = record["status"] == "passed"
    print(f"rerun_{'passed' if passed else 'failed'}: run {run_id}: {record.get('summary', '')}")
    return EXIT_OK if passed else EXIT_GATE_FAILED
