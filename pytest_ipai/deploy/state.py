"""What a deploy leaves on the host: the state file and the maintenance flag (the single-flight
lock is in lock.py). Every write is atomic (a temporary file, fsynced, renamed), so a driver
killed at any moment leaves the previous version or the next, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config.schema import first_problem
from ..core.errors import IpaiError
from ..core.fsio import write_json_atomic
from ..core.timeutil import iso, parse_iso, utc_now

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


def maintenance_on(path: Path, run_id: str, reason: str) -> dict[str, Any]:
    """The flag a reverse proxy checks (e.g. nginx ``if (-f …) { return 503; }``)."""
    record = {"run_id": run_id, "since": iso(utc_now()), "reason": reason}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return record


def maintenance_held(path: Path) -> dict[str, Any] | None:
    """The maintenance flag as another run left it, or None when there is none. A flag that
    cannot be read is still a flag: someone put the site in maintenance."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {"run_id": "unknown", "since": None, "reason": f"{path.name} is not readable JSON"}
    return record if isinstance(record, dict) else {"run_id": "unknown", "since": None}


def describe_maintenance(held: dict[str, Any]) -> str:
    """``set by run X 2h05m ago: deploy 1a2b3c4d5e6f``."""
    since = held.get("since")
    age = ""
    if isinstance(since, str):
        try:
            seconds = int((utc_now() - parse_iso(since)).total_seconds())
            age = f" {seconds // 3600}h{seconds % 3600 // 60:02d}m ago"
        except ValueError:
            age = ""
    reason = f": {held['reason']}" if held.get("reason") else ""
    return f"set by run {held.get('run_id', 'unknown')}{age}{reason}"


def maintenance_off(path: Path) -> None:
    path.unlink(missing_ok=True)
