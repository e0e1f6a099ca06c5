"""The repositories lock, in our shape or in the user's own.

Ours (``oca.lock.json``): ``{repo: {url, ref, commit}}``, each repository pinned to a full SHA.
Another tool's (``{"version": "2.0.0", "repositories": {repo: {url, branch, commit, ...}}}``)
is read where it is and written back in its own shape: only ``commit`` (and a missing
``url``/``branch``) change, every other key the user keeps there stays. An entry whose
``commit`` is null pins nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config.schema import first_problem
from ..core.errors import InputError
from ..core.fsio import write_bytes_atomic
from ..core.textfile import read_json

Lock = dict[str, dict[str, Any]]


def is_foreign(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("repositories"), dict)


def load_lock(path: Path | None) -> Lock | None:
    """The lock, or None when there is none (not configured, or not written yet)."""
    if path is None or not path.exists():
        return None
    data = read_json(path, "lock file")
    if is_foreign(data):
        return foreign_pins(path, data)
    problem = first_problem(data, "oca-lock")
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    lock: Lock = data
    return lock


def foreign_pins(path: Path, data: dict[str, Any]) -> Lock:
    """The pinned entries of another tool's lock, in our shape."""
    problem = first_problem(data, "foreign-lock")
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    return {
        name: {"url": e.get("url"), "ref": e.get("branch") or e.get("ref"), "commit": e["commit"]}
        for name, e in data["repositories"].items()
        if e.get("commit")
    }


def write_lock(path: Path, lock: Lock) -> None:
    """Write the lock in the shape the file already has (ours when it does not exist)."""
    existing = read_json(path, "lock file") if path.exists() else None
    if is_foreign(existing):
        assert isinstance(existing, dict)
        repositories: dict[str, Any] = existing["repositories"]
        for name, pin in lock.items():
            entry = repositories.setdefault(name, {})
            if pin.get("url") and not entry.get("url"):
                entry["url"] = pin["url"]
            if pin.get("ref") and not entry.get("branch"):
                entry["branch"] = pin["ref"]
            entry["commit"] = pin["commit"]
        text = json.dumps(existing, indent=2, ensure_ascii=False) + "\n"
    else:
        text = json.dumps(dict(sorted(lock.items())), indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(path, text.encode())
