"""``ipai evidence list``: the packs under the evidence root, newest first."""

from __future__ import annotations

import json
from pathlib import Path

from . import tables


def list_packs(root: Path, limit: int) -> list[str]:
    packs = sorted((p for p in root.glob("*/*") if (p / "results.json").is_file()), reverse=True)
    rows = [("PACK", "EXIT", "STARTED", "SUMMARY")]
    for pack in packs[:limit]:
        try:
            document = json.loads((pack / "results.json").read_text("utf-8"))
        except (OSError, ValueError):
            rows.append((str(pack.relative_to(root)), "?", "?", "unreadable results.json"))
            continue
        counts = ", ".join(f"{n} {s}" for s, n in document["summary"].items() if n)
        rows.append(
            (
                str(pack.relative_to(root)),
                str(document["exit_code"]),
                document["started_at"],
                counts,
            )
        )
    return tables.render(rows)
