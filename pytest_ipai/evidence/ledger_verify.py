"""``ipai evidence verify --ledger ROOT``: the ledger's chain is whole, every pack it names is
there with the SHA256SUMS and attestations it had when it was noted, every pack on disk is in
it, and each pack verifies on its own. A pack removed, reordered, swapped or slipped in is a
named problem."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.schema import problems as schema_problems
from .journal import chain_problems
from .ledger import LEDGER, packs_on_disk, read_ledger, signature_digest
from .verify import verify_pack

if TYPE_CHECKING:
    from securesystemslib.signer import Key


def verify_ledger(
    root: Path, secret_values: Iterable[str] = (), keys: list[Key] | None = None
) -> list[str]:
    path = root / LEDGER
    if not path.is_file():
        return [f"{LEDGER}: missing (no pack was ever noted in {root})"]
    problems, _head = chain_problems(path, LEDGER)
    entries = read_ledger(root)
    for number, entry in enumerate(entries, start=1):
        problems += [f"{LEDGER}:{number}: {p}" for p in schema_problems(entry, "ledger-entry")]
    latest: dict[str, dict[str, Any]] = {}
    for number, entry in enumerate(entries, start=1):
        rel = str(entry.get("pack"))
        if entry.get("kind") == "published" and rel in latest:
            problems.append(f"{LEDGER}:{number}: {rel} published a second time")
        latest[rel] = {**entry, "line": number}
    secrets = list(secret_values)
    for rel, entry in latest.items():
        problems += _pack_against_entry(root, rel, entry, secrets, keys)
    for pack in packs_on_disk(root):
        rel = pack.relative_to(root).as_posix()
        if rel not in latest:
            problems.append(f"{rel}: not in the ledger (slipped in, or published before it)")
    return problems


def _pack_against_entry(
    root: Path, rel: str, entry: dict[str, Any], secrets: list[str], keys: list[Key] | None
) -> list[str]:
    where = f"{LEDGER}:{entry['line']}"
    pack = root / rel
    parts = rel.split("/")
    if rel.startswith("/") or ".." in parts or len(parts) != 2:
        return [f"{where}: pack path {rel} is not YYYYMMDD-HHMM/<scope>"]
    if not (pack / "SHA256SUMS").is_file():
        return [f"{where}: pack {rel} is missing (removed?)"]
    problems = []
    sums = hashlib.sha256((pack / "SHA256SUMS").read_bytes()).hexdigest()
    if sums != entry.get("sums_sha256"):
        problems.append(f"{rel}: SHA256SUMS is not the one the ledger noted (swapped or altered)")
    if signature_digest(pack) != entry.get("signature_sha256"):
        problems.append(f"{rel}: attestations are not the ones the ledger noted")
    problems += [f"{rel}: {p}" for p in verify_pack(pack, secrets, keys)]
    try:
        results = json.loads((pack / "results.json").read_text("utf-8"))
    except (OSError, ValueError):
        return problems  # verify_pack named it
    for key in ("run_id", "scope", "exit_code"):
        if isinstance(results, dict) and results.get(key) != entry.get(key):
            problems.append(f"{rel}: {key} is not the one the ledger noted")
    return problems
