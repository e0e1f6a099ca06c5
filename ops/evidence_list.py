"""``ipai evidence list``: the packs of an evidence root as its ledger tells them, newest first,
with any pack on disk the ledger lacks (``ipai evidence recover`` adds those)."""

from __future__ import annotations

from pathlib import Path

from pytest_ipai.evidence.ledger import packs_on_disk, read_ledger

from . import tables


def list_packs(root: Path, limit: int) -> list[str]:
    entries = read_ledger(root)
    rows = [("SEQ", "EVENT", "PACK", "RUN", "VERDICT", "EXIT", "SIGNED", "NOTED")]
    for entry in reversed(entries[-limit:]):
        rows.append(
            (
                str(entry.get("seq")),
                str(entry.get("kind")),
                str(entry.get("pack")),
                str(entry.get("run_id")),
                str(entry.get("verdict")),
                str(entry.get("exit_code")),
                "yes" if entry.get("signature_sha256") else "no",
                str(entry.get("time")),
            )
        )
    known = {str(e.get("pack")) for e in entries}
    for pack in reversed(packs_on_disk(root)):
        rel = pack.relative_to(root).as_posix()
        if rel not in known:
            rows.append(("-", "not in ledger", rel, "?", "?", "?", "?", "-"))
    return tables.render(rows)
