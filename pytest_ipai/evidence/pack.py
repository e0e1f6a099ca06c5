"""Build an evidence pack in a staging folder and publish it atomically.

Layout (docs/evidence.md): ``<evidence_root>/YYYYMMDD-HHMM/<scope>/`` holding manifest.json,
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
from typing import IO, Any

from ..core.errors import IpaiError
from ..core.fsio import dump_json, fsync_dir, sync_tree, write_json_atomic
from ..core.results import GateResult, coverage, summary
from ..core.timeutil import parse_iso, utc_now
from . import allure, junit
from .journal import JournalWriter

STAGING = ".staging"
INFLIGHT = "inflight.jsonl"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESULTS_SCHEMA = "ipai/results/1"
MAX_BLOB_BYTES = 8 * 1024 * 1024


RUN_ID_TIME = "%Y%m%dT%H%M%SZ"  # run ids start with their UTC start time: they sort by it


def new_run_id(moment: datetime | None = None) -> str:
    moment = moment or utc_now()
    return f"{moment.strftime(RUN_ID_TIME)}-{secrets.token_hex(4)}"


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
        self._inflight: IO[bytes] | None = None

    # -- session metadata (kept only while staging, used to recover a run that died) --------
    def write_session(self, session: dict[str, Any]) -> None:
        write_json_atomic(self.path / "session.json", session)

    def session(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "session.json").read_text("utf-8"))
        return data

    def mark_started(self, entry: dict[str, Any]) -> None:
        """Note the gate about to run (one appended line; no fsync: it must survive the death
        of this process, which a flushed write does, not a power cut)."""
        if self._inflight is None:
            self._inflight = open(self.path / INFLIGHT, "ab")  # noqa: SIM115 - session-long
        self._inflight.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self._inflight.flush()

    def inflight(self) -> dict[str, Any] | None:
        """The last gate noted as started (recovery decides whether it finished)."""
        try:
            lines = (self.path / INFLIGHT).read_bytes().splitlines()
        except OSError:
            return None
        for raw in reversed(lines):
            try:
                data: dict[str, Any] = json.loads(raw)
            except ValueError:
                continue  # torn by the crash
            return data
        return None

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
            # Renamed into place so a blob is whole or absent; made durable with the whole
            # pack at publication (a blob is content-addressed, so damage is detectable).
            partial = target.with_name(f".{digest}.partial")
            partial.write_bytes(content)
            os.replace(partial, target)
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
        extra: dict[str, Any] | None = None,
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
        if self._inflight is not None:
            self._inflight.close()
            self._inflight = None
        for name in ("session.json", INFLIGHT):
            (self.path / name).unlink(missing_ok=True)
        # Checksums are taken from the bytes as they are written (blobs are named by theirs),
        # so publishing never reads the pack back.
        sums: dict[str, str] = {}

        def put(rel: str, data: bytes) -> None:
            (self.path / rel).write_bytes(data)
            sums[rel] = hashlib.sha256(data).hexdigest()

        sums["journal.jsonl"] = file_sha256(self.path / "journal.jsonl")
        for blob in (self.path / "blobs").iterdir():
            sums[f"blobs/{blob.name}"] = blob.name
        put("results.json", dump_json(document))
        put("junit.xml", junit.render(document))
        (self.path / "allure-results").mkdir()
        files, links = allure.render(document, manifest)
        for name, data in files.items():
            put(f"allure-results/{name}", data)
        for name, digest in links.items():
            os.link(self.path / "blobs" / digest, self.path / "allure-results" / name)
            sums[f"allure-results/{name}"] = digest
        put("manifest.json", dump_json(manifest))
        if decision is not None:
            put("decision.json", dump_json(decision))
        for name, document in (extra or {}).items():  # e.g. deploy_result.json of a deploy pack
            put(name, dump_json(document))
        (self.path / "SHA256SUMS").write_bytes(format_sums(sums))
        sync_tree(self.path)
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


def format_sums(sums: dict[str, str]) -> bytes:
    """SHA256SUMS: ``sha256  relative/path`` lines, sorted by path."""
    return "".join(f"{sums[rel]}  {rel}\n" for rel in sorted(sums)).encode()


def checksums(pack: Path) -> bytes:
    """SHA256SUMS for a pack as it is on disk (every file but SHA256SUMS, read back)."""
    rels = [p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()]
    return format_sums({rel: file_sha256(pack / rel) for rel in rels if rel != "SHA256SUMS"})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def host_name() -> str:
    return socket.gethostname()
