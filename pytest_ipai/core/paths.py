"""Paths in messages: relative to the stack when inside it, so they read like the repository."""

from __future__ import annotations

from pathlib import Path


def rel(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)
