"""Durable file writes: write, fsync, rename. Used for every file pytest-ipai produces."""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never half.
    ``durable``: fsynced, file and folder, so it also outlives an operating-system crash;
    without, it outlives this process only (a run's own records, caches)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; evidence is for auditors to read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def dump_json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def dump_json_rows(data: dict[str, Any], rows: str) -> bytes:
    """``data`` as JSON with the list under ``rows`` one item per line: a pack's results.json
    reads a gate per line. Python's JSON encoder only runs in C without ``indent``, and a
    thousand results indented by the pure-Python one cost a tenth of a second."""

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    parts = []
    for key in sorted(data):
        if key == rows and isinstance(data[key], list):
            items = ",\n".join(f"    {compact(item)}" for item in data[key])
            value = f"[\n{items}\n  ]" if items else "[]"
        else:
            value = compact(data[key])
        parts.append(f"  {json.dumps(key)}: {value}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode()


def write_json_atomic(path: Path, data: Any) -> None:
    write_bytes_atomic(path, dump_json(data))


def _syncfs(path: Path) -> bool:
    """Linux syncfs(2) on the file system holding ``path``: one call instead of one fsync per
    file, which matters for packs of thousands of small files."""
    # The process's own symbols hold libc's: find_library("c") would run ``ldconfig -p``.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if not hasattr(libc, "syncfs"):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return int(libc.syncfs(fd)) == 0
    finally:
        os.close(fd)


def sync_tree(root: Path) -> None:
    """Make every file and folder below ``root`` durable (before it is renamed into place)."""
    if _syncfs(root):
        return
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))
