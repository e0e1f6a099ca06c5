"""The journal: one JSON line per result as it arrived, each chained to the line before.

Each line carries ``prev``, the SHA-256 of the previous line's bytes (64 zeros for the first),
so removing, reordering or editing a line breaks the chain from that point on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

GENESIS = "0" * 64


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def encode_entry(seq: int, prev: str, kind: str, payload: dict[str, Any]) -> bytes:
    entry = {"seq": seq, "prev": prev, "kind": kind, **payload}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class JournalWriter:
    """Appends chained lines, each handed to the kernel at once (flush), so a process that dies
    loses at most the line it was writing. The pack's publication fsyncs it with the rest: an
    operating-system crash mid-run loses the run's tail, never a published pack."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seq = 0
        self.head = GENESIS
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                # A torn line from a crash mid-write: drop it, the chain ends before it.
                data = data[: data.rfind(b"\n") + 1]
                with open(path, "r+b") as fh:
                    fh.truncate(len(data))
            for seq, raw in enumerate(data.splitlines(), start=1):
                self.seq, self.head = seq, line_hash(raw)
        self._fh: IO[bytes] = open(path, "ab")  # noqa: SIM115 - kept open for the session

    def append(self, kind: str, payload: dict[str, Any]) -> str:
        self.seq += 1
        line = encode_entry(self.seq, self.head, kind, payload)
        self._fh.write(line + b"\n")
        self._fh.flush()
        self.head = line_hash(line)
        return self.head

    def close(self) -> None:
        self._fh.close()


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """Entries of a journal, skipping a torn last line (a crash mid-write)."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            yield json.loads(raw)


def chain_problems(path: Path, name: str = "journal.jsonl") -> tuple[list[str], str]:
    """Problems with the chain (naming the line) and the head hash of a chained file (the
    journal, or the evidence root's ledger)."""
    problems: list[str] = []
    prev = GENESIS
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                entry = json.loads(raw)
            except ValueError:
                problems.append(f"{name}:{number}: not valid JSON")
                prev = line_hash(raw)
                continue
            if not isinstance(entry, dict) or entry.get("prev") != prev:
                problems.append(f"{name}:{number}: chain broken (prev hash does not match)")
            elif entry.get("seq") != number:
                problems.append(f"{name}:{number}: sequence number is {entry.get('seq')}")
            prev = line_hash(raw)
    return problems, prev
