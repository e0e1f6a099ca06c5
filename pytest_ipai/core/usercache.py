"""The user's cache folder for facts that cannot go stale: each entry is named by a digest of
everything its value depends on (a commit, a schema's bytes), so an entry is either right or
absent. A cache that cannot be read or written costs the work again, never a verdict."""

from __future__ import annotations

import os
from pathlib import Path

from .fsio import write_bytes_atomic

CACHE_ENV_VAR = "IPAI_CACHE_DIR"


def cache_dir(kind: str) -> Path | None:
    """``$IPAI_CACHE_DIR/KIND``, else (``$XDG_CACHE_HOME`` or ``~/.cache``)/pytest-ipai/KIND;
    ``IPAI_CACHE_DIR=`` (empty) turns every cache off."""
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured is not None:
        return Path(configured) / kind if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-ipai" / kind


def read_entry(kind: str, key: str) -> bytes | None:
    folder = cache_dir(kind)
    if folder is None:
        return None
    try:
        return (folder / key).read_bytes()
    except OSError:
        return None


def write_entry(kind: str, key: str, data: bytes) -> None:
    """Best effort and atomic: a reader sees the whole entry or none."""
    folder = cache_dir(kind)
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_bytes_atomic(folder / key, data, durable=False)
    except OSError:
        pass  # not kept: the next run does the work again
