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
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_ipai.core.fsio import write_json_atomic
from pytest_ipai.core.proc import kill_session, pid_alive, process_started
from pytest_ipai.core.timeutil import iso, parse_iso, utc_now
from pytest_ipai.evidence.pack import RUN_ID_TIME, new_run_id

RUNNING = "running"
# The wrapper enforces the TTL itself (its action's timeout) and reports; the reaper steps in
# only when that did not happen, a little later, so the two never race for the result.
REAP_GRACE = 30.0
FINISHED = ("passed", "failed", "error")


def run_id_prefix(moment: datetime) -> str:
    """The start of every run id of a run started at ``moment`` (they sort by time)."""
    return moment.strftime(RUN_ID_TIME)


def new_record(action: str, started: datetime | None = None) -> dict[str, Any]:
    """The record of a run of ``action`` about to start (its wrapper's pid not known yet)."""
    started = started or utc_now()
    return {
        "run_id": new_run_id(started),
        "action": action,
        "status": RUNNING,
        "pid": None,
        "pid_started": None,
        "started_at": iso(started),
        "finished_at": None,
        "exit_code": None,
        "summary": "",
        "evidence": None,
        "error_class": None,
    }


def write_json_once(path: Path, data: Any) -> bool:
    """Write ``path`` unless it exists (first writer wins): False when it already did."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    write_json_atomic(staged, data)
    try:
        os.link(staged, path)
    except FileExistsError:
        return False
    finally:
        staged.unlink(missing_ok=True)
    return True


class RunStore:
    def __init__(self, folder: Path, ttl_seconds: float, keep_days: float = 30) -> None:
        self.folder = folder
        self.ttl_seconds = ttl_seconds
        self.keep_days = keep_days
        self._lock = threading.Lock()
        # Wrappers this hostd started: polled so that a finished one is waited for, not left
        # as a zombie that would look alive.
        self._children: dict[str, subprocess.Popen[bytes]] = {}
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
        child = self._children.get(record["run_id"])
        if child is not None and child.poll() is not None:
            self._children.pop(record["run_id"], None)
            if self.result_path(record["run_id"]).is_file():  # it reported as it exited
                return self.get(record["run_id"]) or record
        pid = int(record.get("pid") or 0)
        ours = bool(pid) and pid_alive(pid, record.get("pid_started"))  # the wrapper still runs
        age = (utc_now() - parse_iso(record["started_at"])).total_seconds()
        reason = None
        if pid and not ours:
            reason = "its process died before it reported"
        elif not pid and age > REAP_GRACE:  # starting takes milliseconds
            reason = "hostd stopped while starting it"
        elif age > self.ttl_seconds + REAP_GRACE:
            reason = f"it ran past its TTL of {self.ttl_seconds:g} s and was stopped"
        if reason is None:
            return record
        # The wrapper leads a session of its own; whatever is left of it (the action and its
        # workers) can no longer report, so none of it may linger.
        # (A pid now used by another process is left alone: its session is not ours.)
        if pid and (ours or not pid_alive(pid)):
            kill_session(pid)
        finish = {
            "status": "error",
            "error_class": "reaped",
            "summary": f"reaped: {reason}",
            "exit_code": None,
            "finished_at": iso(utc_now()),
        }
        if not write_json_once(self.result_path(record["run_id"]), finish):
            return self.get(record["run_id"]) or record  # it reported after all, just now
        return {**record, **finish}

    def _names(self) -> list[str]:
        """Run ids, newest first (a run id starts with its UTC start time)."""
        return sorted(
            (
                p.name[: -len(".json")]
                for p in self.folder.glob("*.json")
                if ".result." not in p.name
            ),
            reverse=True,
        )

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first. A run id names its start to the second only: runs of the same second
        are ordered by their recorded start (milliseconds), so none is cut off at random."""
        names = self._names()
        chosen = names[:limit]
        if chosen:
            second = chosen[-1].split("-", 1)[0]
            chosen += [n for n in names[limit:] if n.split("-", 1)[0] == second]
        found = [r for r in (self.get(name) for name in chosen) if r is not None]
        found.sort(key=lambda r: (r["started_at"], r["run_id"]), reverse=True)
        return found[:limit]

    def active(self, action: str) -> dict[str, Any] | None:
        """The running run of ``action``. Every run young enough to be running is looked at,
        however many others started since; an older one is reaped by now."""
        since = run_id_prefix(utc_now() - timedelta(seconds=self.ttl_seconds + REAP_GRACE + 60))
        for name in self._names():
            if name < since:
                break
            record = self.get(name)
            if record and record["action"] == action and record["status"] == RUNNING:
                return record
        return None

    def prune(self, keep_days: float) -> int:
        """Delete the records of finished runs that started more than ``keep_days`` ago (their
        packs stay: they are the evidence); the number deleted."""
        before = run_id_prefix(utc_now() - timedelta(days=keep_days))
        deleted = 0
        for name in reversed(self._names()):
            if name >= before:
                break
            if self.result_path(name).is_file():
                self._record_path(name).unlink(missing_ok=True)
                self.result_path(name).unlink(missing_ok=True)
                deleted += 1
        return deleted

    def start(
        self, action: str, argv: list[str], judge: str | None, secret_env: list[str]
    ) -> tuple[dict[str, Any], bool]:
        """Start ``argv`` as a run of ``action``, or return the live run of it. The bool says
        whether a new run was started."""
        with self.exclusive():
            self.prune(self.keep_days)
            running = self.active(action)
            if running is not None:
                return running, False
            record = new_record(action)
            run_id = record["run_id"]
            # Recorded before it starts: a hostd killed in between leaves a record (reaped later),
            # never a run nobody knows of.
            write_json_atomic(self._record_path(run_id), record)
            wrapper = [sys.executable, "-m", "ipai_ops.hostd_exec", str(self.result_path(run_id))]
            wrapper += ["--timeout", str(self.ttl_seconds)]
            if judge:
                wrapper += ["--judge", judge]
            for name in secret_env:
                wrapper += ["--secret-env", name]
            # Its own session: the run outlives a restart of hostd, and the TTL reaper can stop
            # the whole process group.
            try:
                proc = subprocess.Popen(
                    [*wrapper, "--", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                failed = {
                    "status": "error",
                    "error_class": "action_error",
                    "summary": f"could not start: {exc.strerror}",
                    "finished_at": iso(utc_now()),
                }
                write_json_atomic(self.result_path(run_id), failed)
                return {**record, **failed}, True
            record["pid"] = proc.pid
            record["pid_started"] = process_started(proc.pid)
            self._children[run_id] = proc
            write_json_atomic(self._record_path(run_id), record)
            return record, True
