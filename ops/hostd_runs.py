"""Run records of the host executor: one JSON file per run, written by hostd when it starts the
run, and a result file written by the run's own wrapper process when it ends. Records outlive
hostd: a restarted hostd finds running runs (their wrappers are in sessions of their own) and
reaps those whose process died or outlived the TTL.

Single flight per action: starting an action while a run of it is alive returns that run.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from pytest_ipai.evidence.fsio import write_json_atomic
from pytest_ipai.evidence.pack import new_run_id, pid_alive
from pytest_ipai.timeutil import iso, parse_iso, utc_now

RUNNING = "running"
FINISHED = ("passed", "failed", "error")


class RunStore:
    def __init__(self, folder: Path, ttl_seconds: float) -> None:
        self.folder = folder
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One starter at a time, across threads and across hostd processes."""
        with self._lock, open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _record_path(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.json"

    def result_path(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.result.json"

    def get(self, run_id: str) -> dict[str, Any] | None:
        path = self._record_path(run_id)
        try:
            record: dict[str, Any] = json.loads(path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        result = self.result_path(run_id)
        if result.is_file():
            with suppress(ValueError):  # written by rename, so never half; belt and braces
                record.update(json.loads(result.read_text("utf-8")))
        elif record["status"] == RUNNING:
            record = self._reap_if_gone(record)
        return record

    def _reap_if_gone(self, record: dict[str, Any]) -> dict[str, Any]:
        pid = int(record.get("pid") or 0)
        age = (utc_now() - parse_iso(record["started_at"])).total_seconds()
        reason = None
        if pid and not pid_alive(pid):
            reason = "its process died before it reported"
        elif age > self.ttl_seconds:
            reason = f"it ran past its TTL of {self.ttl_seconds:g} s and was stopped"
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if reason is None:
            return record
        finish = {
            "status": "error",
            "error_class": "reaped",
            "summary": f"reaped: {reason}",
            "exit_code": None,
            "finished_at": iso(utc_now()),
        }
        write_json_atomic(self.result_path(record["run_id"]), finish)
        return {**record, **finish}

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        names = sorted(
            (
                p.name[: -len(".json")]
                for p in self.folder.glob("*.json")
                if ".result." not in p.name
            ),
            reverse=True,
        )
        found = [self.get(name) for name in names[:limit]]
        return [r for r in found if r is not None]

    def active(self, action: str) -> dict[str, Any] | None:
        for record in self.runs(limit=200):
            if record["action"] == action and record["status"] == RUNNING:
                return record
        return None

    def start(
        self, action: str, argv: list[str], judge: str | None, secret_env: list[str]
    ) -> tuple[dict[str, Any], bool]:
        """Start ``argv`` as a run of ``action``, or return the live run of it. The bool says
        whether a new run was started."""
        import subprocess

        with self.exclusive():
            running = self.active(action)
            if running is not None:
                return running, False
            run_id = new_run_id()
            record: dict[str, Any] = {
                "run_id": run_id,
                "action": action,
                "status": RUNNING,
                "pid": None,
                "started_at": iso(utc_now()),
                "finished_at": None,
                "exit_code": None,
                "summary": "",
                "evidence": None,
                "error_class": None,
            }
            wrapper = [sys.executable, "-m", "ipai_ops.hostd_exec", str(self.result_path(run_id))]
            wrapper += ["--timeout", str(self.ttl_seconds)]
            if judge:
                wrapper += ["--judge", judge]
            for name in secret_env:
                wrapper += ["--secret-env", name]
            # Its own session: the run outlives a restart of hostd, and the TTL reaper can stop
            # the whole process group.
            proc = subprocess.Popen(
                [*wrapper, "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            record["pid"] = proc.pid
            write_json_atomic(self._record_path(run_id), record)
            return record, True
