"""What a deploy leaves on the host: the state file, the single-flight lock and the maintenance
flag. Every write is atomic (a temporary file, fsynced, renamed), so a driver killed at any
moment leaves the previous version or the next, never half of one.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import IpaiError
from .evidence.fsio import write_json_atomic
from .proc import pid_alive
from .schema import first_problem
from .timeutil import iso, parse_iso, utc_now

STATE_SCHEMA = "deploy-state"
EMPTY_STATE: dict[str, Any] = {
    "deployed_sha": None,
    "previous_sha": None,
    "last_known_good_sha": None,
    "last_deploy_timestamp": None,
    "last_deploy_result": None,
    "last_run_id": None,
    "last_backup_id": None,
    "upgrade_ran": False,
    "maintenance": None,
}


class DeployError(IpaiError):
    """A deploy step that cannot go on; ``error_class`` names why."""

    def __init__(self, error_class: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.retryable = retryable


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return dict(EMPTY_STATE)
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DeployError("state_unreadable", f"{path}: not readable JSON ({exc})") from None
    problem = first_problem(document, STATE_SCHEMA)
    if problem:
        raise DeployError("state_unreadable", f"{path}: {problem}")
    return {**EMPTY_STATE, **document}


def save_state(path: Path, state: dict[str, Any]) -> None:
    problem = first_problem(state, STATE_SCHEMA)
    if problem:  # our own bug: never write a state file we could not read back
        raise DeployError("state_invalid", f"refusing to write {path}: {problem}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, state)


@dataclass(frozen=True)
class Holder:
    run_id: str
    pid: int
    host: str
    started_at: str
    ttl_seconds: float

    @property
    def age(self) -> float:
        return (utc_now() - parse_iso(self.started_at)).total_seconds()

    def alive(self) -> bool:
        """Whether the holder can still be running: its process exists (when it is ours to see)
        and it is younger than its TTL."""
        if self.age > self.ttl_seconds:
            return False
        if self.host == socket.gethostname():
            return pid_alive(self.pid)
        return True  # another host's process: trust the TTL

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, {self.age:.0f} s old)"


class DeployLock:
    """One deploy at a time per environment: a lock file created with link(2), which fails if
    the file exists, so two drivers can never both believe they hold it."""

    def __init__(self, path: Path, ttl_seconds: float) -> None:
        self.path = path
        self.ttl_seconds = ttl_seconds
        self.held = False

    def holder(self) -> Holder | None:
        try:
            data = json.loads(self.path.read_text("utf-8"))
            return Holder(
                str(data["run_id"]),
                int(data["pid"]),
                str(data["host"]),
                str(data["started_at"]),
                float(data.get("ttl_seconds", self.ttl_seconds)),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable: written by something else, or damaged. Age decides, by its mtime.
            try:
                mtime = datetime.fromtimestamp(self.path.stat().st_mtime, utc_now().tzinfo)
            except FileNotFoundError:
                return None
            return Holder("unknown", 0, "unknown", iso(mtime), self.ttl_seconds)

    def acquire(self, run_id: str) -> Holder | None:
        """Take the lock; return the stale holder it replaced, if any. A live holder raises
        ``deploy_lock_held`` (retryable: that run may finish)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "run_id": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": iso(utc_now()),
            "ttl_seconds": self.ttl_seconds,
        }
        temp = self.path.with_name(f".{self.path.name}.{run_id}.{os.getpid()}")
        write_json_atomic(temp, record)
        cleared: Holder | None = None
        try:
            for _ in range(5):
                try:
                    os.link(temp, self.path)
                    self.held = True
                    return cleared
                except FileExistsError:
                    pass
                holder = self.holder()
                if holder is None:
                    continue  # released between our two looks
                if holder.alive():
                    raise DeployError(
                        "deploy_lock_held",
                        f"{self.path}: held by {holder.describe()}",
                        retryable=True,
                    )
                # Stale: move it aside under a unique name (a racing taker's rename fails).
                aside = self.path.with_name(f"{self.path.name}.stale-{holder.run_id}-{os.getpid()}")
                try:
                    os.rename(self.path, aside)
                    aside.unlink()
                    cleared = holder
                except FileNotFoundError:
                    continue
            raise DeployError(
                "deploy_lock_held", f"{self.path}: could not be taken", retryable=True
            )
        finally:
            temp.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def maintenance_on(path: Path, run_id: str, reason: str) -> dict[str, Any]:
    """The flag a reverse proxy checks (e.g. nginx ``if (-f …) { return 503; }``)."""
    record = {"run_id": run_id, "since": iso(utc_now()), "reason": reason}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return record


def maintenance_off(path: Path) -> None:
    path.unlink(missing_ok=True)
