"""``oca.lock.json``: ``{repo: {url, ref, commit}}``, each repository pinned to a full SHA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config.schema import first_problem
from ..core.errors import InputError
from ..core.fsio import write_bytes_atomic
from ..core.textfile import read_json


def load_lock(path: Path | None) -> dict[str, dict[str, Any]] | None:
    """The lock, or None when there is none (not configured, or not written yet)."""
    if path is None or not path.exists():
        return None
    data = read_json(path, "lock file")
    problem = first_problem(data, "oca-lock")
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    lock: dict[str, dict[str, Any]] = data
    return lock


def write_lock(path: Path, lock: dict[str, dict[str, Any]]) -> None:
    text = json.dumps(dict(sorted(lock.items())), indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(path, text.encode())
