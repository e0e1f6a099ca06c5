"""The single-flight deploy lock: one deploy at a time per environment, taken with link(2) and
stale after a TTL or when its holder's process is gone."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.fsio import write_json_atomic
from ..core.proc import pid_alive
from ..core.timeutil import iso, parse_iso, utc_now
from .state import DeployError


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
