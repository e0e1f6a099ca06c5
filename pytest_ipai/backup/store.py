"""The backup store: ``<backup_root>/<env>/<UTC id>/`` holding db.dump, filestore.tar and
manifest.json (written last, with every file's size and SHA-256), plus verification.json once
verified. Runs are assembled in ``.staging/`` and renamed into place: a backup folder without
a manifest is never left where ``list`` looks."""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config.schema import first_problem
from ..core.errors import InputError, IpaiError
from ..core.textfile import read_json
from ..core.timeutil import parse_iso

BACKUP_ID = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
MANIFEST = "manifest.json"
VERIFICATION = "verification.json"
KEY_TABLES = (
    "ir_module_module",
    "res_users",
    "res_partner",
    "res_company",
    "ir_attachment",
    "ir_config_parameter",
    "ir_cron",
    "ir_model",
    "ir_ui_view",
    "mail_message",
)


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict[str, Any]
    verification: dict[str, Any] | None

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def created(self) -> datetime:
        return parse_iso(self.manifest["finished_at"])

    @property
    def verified(self) -> bool:
        return bool(self.verification and self.verification.get("result") == "verified")

    @property
    def size(self) -> int:
        return sum(int(f["size"]) for f in self.manifest["files"].values())


def env_dir(root: Path, env: str) -> Path:
    return root / env


def load(path: Path) -> Backup:
    manifest = read_json(path / MANIFEST, "backup manifest")
    problem = first_problem(manifest, "backup-manifest")
    if problem is not None:
        raise InputError(f"{path / MANIFEST}: {problem}")
    verification = None
    if (path / VERIFICATION).is_file():
        # A verification record we cannot read or trust counts as a failed verification.
        try:
            verification = json.loads((path / VERIFICATION).read_text("utf-8"))
        except (OSError, ValueError):
            verification = None
        if verification is None or first_problem(verification, "backup-verification"):
            verification = {"result": "failed", "reasons": ["verification.json unreadable"]}
    return Backup(path, manifest, verification)


def backups(root: Path, env: str) -> list[Backup]:
    """Complete backups of ``env``, oldest first."""
    folder = env_dir(root, env)
    if not folder.is_dir():
        return []
    found = [
        load(p)
        for p in sorted(folder.iterdir())
        if p.is_dir() and BACKUP_ID.match(p.name) and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda b: b.id)


def find(root: Path, env: str, backup_id: str) -> Backup:
    if not BACKUP_ID.match(backup_id):
        raise IpaiError(f"backup id {backup_id!r}: expected a UTC id such as 20261124T180000Z")
    path = env_dir(root, env) / backup_id
    if not (path / MANIFEST).is_file():
        raise IpaiError(f"{path}: no such backup")
    return load(path)


@contextmanager
def exclusive(root: Path, env: str, what: str) -> Iterator[None]:
    """One backup or restore of an environment at a time: the second fails at once, clearly."""
    folder = env_dir(root, env)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            words = os.pread(fd, 64, 0).decode(errors="replace").split()
            holder = words[0] if words else "unknown"
            raise IpaiError(
                f"backup_in_progress: another backup or restore of {env} is running (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
