"""The ledger: an append-only, hash-chained index of the packs of one evidence root.

``<evidence_root>/ledger.jsonl`` gets one line per pack published (and per pack signed again
or adopted), chained like the journal: each line carries the SHA-256 of the line before. An
entry names the pack, its scope, run id, time, verdict and exit code, and the digests of its
SHA256SUMS and of its attestations, so a pack removed, reordered or swapped for another is
seen by ``ipai evidence verify --ledger``. Appends take an exclusive lock on
``.ledger.lock``: concurrent runs append one after the other, never over each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.errors import IpaiError, NoSpaceError, out_of_space
from ..core.timeutil import iso, utc_now
from .journal import GENESIS, encode_entry, line_hash

LEDGER = "ledger.jsonl"
LOCK = ".ledger.lock"
LOCK_TIMEOUT = 60.0
VERDICT_BY_EXIT = {0: "pass", 1: "fail", 2: "error"}


@contextmanager
def locked(root: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IpaiError(
                        f"{root / LOCK}: the ledger stayed locked for {timeout:g}s"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _tail(path: Path) -> tuple[int, str]:
    """The last sequence number and line hash; a torn last line (a crash mid-append) is cut."""
    if not path.exists():
        return 0, GENESIS
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as fh:
            fh.truncate(len(data))
    lines = data.splitlines()
    return (len(lines), line_hash(lines[-1])) if lines else (0, GENESIS)


def signature_digest(pack: Path) -> str | None:
    """One digest over the pack's attestation files (None when it is unsigned)."""
    folder = pack / "attestations"
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest() if files else None


def pack_facts(root: Path, pack: Path) -> dict[str, Any]:
    results = json.loads((pack / "results.json").read_text("utf-8"))
    verdict = VERDICT_BY_EXIT.get(results["exit_code"], "error")
    if (pack / "decision.json").is_file():
        verdict = str(json.loads((pack / "decision.json").read_text("utf-8")).get("verdict"))
    return {
        "pack": pack.relative_to(root).as_posix(),
        "scope": results["scope"],
        "run_id": results["run_id"],
        "verdict": verdict,
        "exit_code": results["exit_code"],
        "sums_sha256": hashlib.sha256((pack / "SHA256SUMS").read_bytes()).hexdigest(),
        "signature_sha256": signature_digest(pack),
    }


def append_pack(root: Path, pack: Path, event: str = "published") -> dict[str, Any]:
    """Note a pack in its root's ledger (``published``, ``signed`` again, or ``adopted``)."""
    facts = pack_facts(root, pack)
    path = root / LEDGER
    try:
        with locked(root):
            seq, head = _tail(path)
            payload = {**facts, "time": iso(utc_now())}
            line = encode_entry(seq + 1, head, event, payload) + b"\n"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
    except OSError as exc:
        if not out_of_space(exc):
            raise
        raise NoSpaceError(
            f"{path}: no space left to note {facts['pack']}; the pack is published, and "
            "`ipai evidence recover` adds it to the ledger once there is space"
        ) from None
    return {"seq": seq + 1, "prev": head, "kind": event, **payload}


def read_ledger(root: Path) -> list[dict[str, Any]]:
    path = root / LEDGER
    if not path.exists():
        return []
    entries = []
    for raw in path.read_bytes().splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break  # torn by a crash
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # verify names it
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def packs_on_disk(root: Path) -> list[Path]:
    """Published packs: ``YYYYMMDD-HHMM/<scope>`` folders with a SHA256SUMS."""
    return sorted(
        p
        for p in root.glob("*/*")
        if not p.parent.name.startswith(".") and (p / "SHA256SUMS").is_file()
    )


def adopt_unledgered(root: Path) -> list[Path]:
    """Note the packs the ledger lacks (published before the ledger, or by a run that died
    between the rename and the append) as ``adopted``: visible as such, never as published."""
    known = {str(e.get("pack")) for e in read_ledger(root)}
    adopted = []
    for pack in packs_on_disk(root):
        if pack.relative_to(root).as_posix() not in known and (pack / "results.json").is_file():
            append_pack(root, pack, "adopted")
            adopted.append(pack)
    return adopted
