"""Build an evidence pack in a staging folder and publish it atomically.

Layout (DESIGN.md section 7): ``<evidence_root>/YYYYMMDD-HHMM/<scope>/`` holding manifest.json,
results.json, journal.jsonl, junit.xml, allure-results/, blobs/<sha256>, decision.json (when a
decision was made) and SHA256SUMS, written last. The pack is assembled under
``<evidence_root>/.staging/<run_id>/`` on the same file system, fsynced, then renamed into
place; a name that is taken gets a suffix (``-2``, ``-3``...), never an overwrite.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import IpaiError
from ..results import GateResult, coverage, summary
from ..timeutil import parse_iso, utc_now
from . import allure, junit
from .fsio import dump_json, fsync_dir, fsync_tree, write_bytes_atomic, write_json_atomic
from .journal import JournalWriter

STAGING = ".staging"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESULTS_SCHEMA = "ipai/results/1"
MAX_BLOB_BYTES = 8 * 1024 * 1024


def new_run_id(moment: datetime | None = None) -> str:
    moment = moment or utc_now()
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise IpaiError(
            f"run id {run_id!r}: use letters, digits, '.', '_' or '-' (at most 64 characters)"
        )
    return run_id


class Staging:
    """A pack under construction. Only the process that owns the run writes here."""

    def __init__(self, root: Path, run_id: str, *, create: bool = True) -> None:
        self.root = root
        self.run_id = check_run_id(run_id)
        self.path = root / STAGING / run_id
        if create:
            if self.path.exists():
                raise IpaiError(f"{self.path}: a run with id {run_id} is already being recorded")
            (self.path / "blobs").mkdir(parents=True)
        self._journal: JournalWriter | None = None

    # -- session metadata (kept only while staging, used to recover a run that died) --------
    def write_session(self, session: dict[str, Any]) -> None:
        write_json_atomic(self.path / "session.json", session)

    def session(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "session.json").read_text("utf-8"))
        return data

    def set_inflight(self, entry: dict[str, Any] | None) -> None:
        target = self.path / "inflight.json"
        if entry is None:
            target.unlink(missing_ok=True)
        else:
            write_json_atomic(target, entry)

    def inflight(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.path / "inflight.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data

    # -- content ---------------------------------------------------------------------------
    @property
    def journal(self) -> JournalWriter:
        if self._journal is None:
            self._journal = JournalWriter(self.path / "journal.jsonl")
        return self._journal

    def add_blob(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        target = self.path / "blobs" / digest
        if not target.exists():
            write_bytes_atomic(target, content)
        return digest

    def record(self, result: GateResult) -> str:
        return self.journal.append("result", {"result": result.to_dict()})

    def discard(self) -> None:
        if self._journal is not None:
            self._journal.close()
        shutil.rmtree(self.path, ignore_errors=True)

    # -- publishing ------------------------------------------------------------------------
    def publish(
        self,
        *,
        manifest: dict[str, Any],
        results: list[GateResult],
        expected: Iterable[str],
        exit_code: int,
        decision: dict[str, Any] | None = None,
    ) -> Path:
        journal = self.journal
        journal_head = journal.head
        journal.close()
        self._journal = None
        cov = coverage(expected, results)
        document = {
            "schema": RESULTS_SCHEMA,
            "run_id": self.run_id,
            "suite": manifest["suite"],
            "scope": manifest["scope"],
            "env": manifest["env"],
            "started_at": manifest["started_at"],
            "finished_at": manifest["finished_at"],
            "interrupted": manifest["interrupted"],
            "exit_code": exit_code,
            "summary": summary(results),
            "coverage": cov.to_dict(),
            "journal_head": journal_head,
            "results": [r.to_dict() for r in results],
        }
        for name in ("session.json", "inflight.json"):
            (self.path / name).unlink(missing_ok=True)
        (self.path / "journal.jsonl").touch()
        (self.path / "results.json").write_bytes(dump_json(document))
        (self.path / "junit.xml").write_bytes(junit.render(document))
        allure.write_results(self.path / "allure-results", document, manifest, self.path / "blobs")
        (self.path / "manifest.json").write_bytes(dump_json(manifest))
        if decision is not None:
            (self.path / "decision.json").write_bytes(dump_json(decision))
        (self.path / "SHA256SUMS").write_bytes(checksums(self.path))
        fsync_tree(self.path)
        return self._rename_into_place(parse_iso(manifest["started_at"]), manifest["scope"])

    def _rename_into_place(self, started: datetime, scope: str) -> Path:
        minute_dir = self.root / f"{started.astimezone(UTC):%Y%m%d-%H%M}"
        minute_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            target = minute_dir / (scope if attempt == 1 else f"{scope}-{attempt}")
            if target.exists():
                continue
            try:
                # rename(2) onto a non-empty folder fails, so a racing publisher cannot be
                # overwritten; we never leave empty folders for it to land on.
                os.rename(self.path, target)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                raise
            fsync_dir(minute_dir)
            fsync_dir(self.path.parent)
            return target
        raise IpaiError(f"{minute_dir}: too many packs named {scope} in one minute")


def checksums(pack: Path) -> bytes:
    """``sha256  relative/path`` lines for every file but SHA256SUMS, sorted by path."""
    lines = []
    for path in sorted(p for p in pack.rglob("*") if p.is_file()):
        rel = path.relative_to(pack).as_posix()
        if rel == "SHA256SUMS":
            continue
        lines.append(f"{file_sha256(path)}  {rel}\n")
    return "".join(lines).encode()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def host_name() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
