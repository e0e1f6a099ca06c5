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
import shutil
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..core.errors import IpaiError, NoSpaceError, out_of_space
from ..core.fsio import (
    dump_json,
    dump_json_rows,
    fsync_dir,
    sync_tree,
    write_bytes_atomic,
)
from ..core.results import GateResult, coverage, summary
from ..core.timeutil import parse_iso, utc_now
from . import allure, junit, ledger
from .journal import JournalWriter

if TYPE_CHECKING:
    from .attest import PackSigner

STAGING = ".staging"
INFLIGHT = "inflight.jsonl"
DOCUMENT_NAME = re.compile(r"^[a-z][a-z_]*\.json$")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESULTS_SCHEMA = "ipai/results/1"
ATTESTATIONS = "attestations"  # signed statements about the pack; not in SHA256SUMS
# What a publication writes besides the documents it is handed (cleared before a retry).
OUTPUTS = ("results.json", "junit.xml", "allure-results", "SHA256SUMS", ATTESTATIONS)
MAX_BLOB_BYTES = 8 * 1024 * 1024


RUN_ID_TIME = "%Y%m%dT%H%M%SZ"  # run ids start with their UTC start time: they sort by it


def new_run_id(moment: datetime | None = None) -> str:
    moment = moment or utc_now()
    return f"{moment.strftime(RUN_ID_TIME)}-{os.urandom(4).hex()}"


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise IpaiError(
            f"run id {run_id!r}: use letters, digits, '.', '_' or '-' (at most 64 characters)"
        )
    return run_id


class Staging:
    """A pack under construction. Only the process that owns the run writes here."""

    def __init__(self, root: Path, run_id: str, *, create: bool = True, check: bool = True) -> None:
        # check=False: recovery opens a staged folder whatever its name (the run id it
        # publishes is the one its manifest holds).
        self.root = root
        self.run_id = check_run_id(run_id) if check or create else run_id
        self.path = root / STAGING / run_id
        if create:
            if self.path.exists():
                raise IpaiError(f"{self.path}: a run with id {run_id} is already being recorded")
            (self.path / "blobs").mkdir(parents=True)
        self._journal: JournalWriter | None = None
        self._inflight: IO[bytes] | None = None

    # -- session metadata (kept only while staging, used to recover a run that died) --------
    def write_session(self, session: dict[str, Any]) -> None:
        # Compact: the run's own record for recovery, never part of a pack, and written by
        # Python's C encoder (an indented one is the pure-Python encoder, ten times slower).
        # Atomic (renamed into place) but not fsynced, as the journal's lines are not: it must
        # outlive this process, and an operating-system crash loses the run's tail anyway.
        text = json.dumps(session, ensure_ascii=False, separators=(",", ":")) + "\n"
        write_bytes_atomic(self.path / "session.json", text.encode("utf-8"), durable=False)

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
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    # -- publishing ------------------------------------------------------------------------
    def publish(
        self,
        *,
        results: list[GateResult],
        finish: dict[str, Any],
        signer: PackSigner | None = None,
    ) -> Path:
        """Write every file of the pack, make it durable, drop the session record last, then
        rename the pack into place and append it to the evidence root's ledger.

        ``finish`` is the journal's closing entry: the exit code and every document of the pack
        but results.json (manifest, policy, config, decision, a deploy's result), so a
        publication that failed (a full disk) is repeated by recovery to the same bytes. On a
        full disk the partial files are removed and the staging folder keeps what recovery
        needs (journal, blobs, session record): :class:`NoSpaceError`."""
        journal_head = self.journal.head
        self.close()
        documents: dict[str, Any] = finish["documents"]
        manifest = documents["manifest.json"]
        expected = [str(gate["gate_id"]) for gate in documents["policy.json"]["gates"]]
        document = {
            "schema": RESULTS_SCHEMA,
            "run_id": manifest["run_id"],
            "suite": manifest["suite"],
            "scope": manifest["scope"],
            "env": manifest["env"],
            "started_at": manifest["started_at"],
            "finished_at": manifest["finished_at"],
            "interrupted": manifest["interrupted"],
            "exit_code": finish["exit_code"],
            "summary": summary(results),
            "coverage": coverage(expected, results).to_dict(),
            "journal_head": journal_head,
            "results": [r.to_dict() for r in results],
        }
        for name in documents:
            if not DOCUMENT_NAME.match(name) or name == "results.json":
                raise IpaiError(f"{self.path}: journal.jsonl: finish names a bad document {name!r}")
        written = [*documents, *OUTPUTS]
        try:
            self._clear(written)
            self._write(document, manifest, documents, signer)
            sync_tree(self.path)
            # The session record, and what a write of it that was killed midway left.
            for leftover in (*self.path.glob(".session.json.*"), self.path / "session.json"):
                leftover.unlink(missing_ok=True)
            (self.path / INFLIGHT).unlink(missing_ok=True)
            fsync_dir(self.path)
        except OSError as exc:
            if not out_of_space(exc):
                raise
            self._clear(written)
            raise NoSpaceError(
                f"{self.root}: no space left to publish run {self.run_id}; its journal is kept "
                f"in {self.path} and `ipai evidence recover` publishes it once there is space"
            ) from None
        return self.finish_publication()

    def finish_publication(self) -> Path:
        """Rename a fully written staging folder into place and note it in the ledger."""
        manifest = json.loads((self.path / "manifest.json").read_text("utf-8"))
        try:
            pack = self._rename_into_place(parse_iso(manifest["started_at"]), manifest["scope"])
        except OSError as exc:
            if not out_of_space(exc):
                raise
            raise NoSpaceError(
                f"{self.root}: no space left to publish run {self.run_id}; it is written in "
                f"{self.path} and `ipai evidence recover` moves it into place once there is space"
            ) from None
        ledger.append_pack(self.root, pack)
        return pack

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._inflight is not None:
            self._inflight.close()
            self._inflight = None

    def _clear(self, names: Iterable[str]) -> None:
        """Remove what an earlier, failed publication of this run left (never the journal,
        the blobs or the session record: recovery needs them)."""
        for name in names:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)

    def _write(
        self,
        document: dict[str, Any],
        manifest: dict[str, Any],
        documents: dict[str, Any],
        signer: PackSigner | None,
    ) -> None:
        # Checksums are taken from the bytes as they are written (blobs are named by theirs),
        # so publishing never reads the pack back.
        sums: dict[str, str] = {}

        def put(rel: str, data: bytes) -> None:
            with open(self.path / rel, "wb") as fh:
                fh.write(data)
            sums[rel] = hashlib.sha256(data).hexdigest()

        sums["journal.jsonl"] = file_sha256(self.path / "journal.jsonl")
        for blob in (self.path / "blobs").iterdir():
            if not blob.name.startswith("."):
                sums[f"blobs/{blob.name}"] = blob.name
        put("results.json", dump_json_rows(document, "results"))
        put("junit.xml", junit.render(document))
        (self.path / "allure-results").mkdir()
        files, links = allure.render(document, manifest)
        for name, data in files.items():
            put(f"allure-results/{name}", data)
        for name, digest in links.items():
            os.link(self.path / "blobs" / digest, self.path / "allure-results" / name)
            sums[f"allure-results/{name}"] = digest
        for name, content in documents.items():
            put(name, dump_json(content))
        sums_bytes = format_sums(sums)
        with open(self.path / "SHA256SUMS", "wb") as fh:
            fh.write(sums_bytes)
        if signer is not None:
            sums["SHA256SUMS"] = hashlib.sha256(sums_bytes).hexdigest()
            for name, envelope in signer.envelopes(sums, document, documents).items():
                (self.path / ATTESTATIONS).mkdir(exist_ok=True)
                put(f"{ATTESTATIONS}/{name}", envelope)

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
    """SHA256SUMS for a pack as it is on disk (every file but SHA256SUMS and the
    attestations, read back)."""
    rels = [p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()]
    return format_sums(
        {
            rel: file_sha256(pack / rel)
            for rel in rels
            if rel != "SHA256SUMS" and not rel.startswith(f"{ATTESTATIONS}/")
        }
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def host_name() -> str:
    return socket.gethostname()
