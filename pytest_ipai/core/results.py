"""Gate results: the status vocabulary, what a result holds, coverage and exit codes.

Pure data and functions; no pytest here, so the decision engine and the evidence tools can use
it without a test session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import EXIT_GATE_FAILED, EXIT_OK

PASS = "pass"  # noqa: S105 - a status, not a password
FAIL = "fail"
ERROR = "error"
SKIPPED = "skipped"
WAIVED = "waived"
NOT_RUN = "not_run"
INCONCLUSIVE = "inconclusive"
STATUSES = (PASS, FAIL, ERROR, SKIPPED, WAIVED, NOT_RUN, INCONCLUSIVE)
# A required gate counts as satisfied only with one of these; anything else fails the suite.
SATISFIED = frozenset({PASS, WAIVED})


@dataclass
class Attempt:
    at: str
    outcome: str
    duration: float = 0.0
    detail: str = ""


@dataclass
class BlobRef:
    name: str
    sha256: str
    size: int
    media_type: str = "text/plain"


@dataclass
class GateResult:
    gate_id: str
    suite: str
    status: str
    severity: str = "normal"
    required: bool = True
    error_class: str | None = None
    message: str = ""
    nodeid: str | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    blobs: list[BlobRef] = field(default_factory=list)
    duration: float = 0.0
    started_at: str | None = None
    finished_at: str | None = None
    host: str = ""
    worker: str | None = None
    details: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its deep copies were the plugin's largest per-gate cost.
        data = dict(self.__dict__)
        data["attempts"] = [dict(a.__dict__) for a in self.attempts]
        data["blobs"] = [dict(b.__dict__) for b in self.blobs]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        values = dict(data)
        values["attempts"] = [Attempt(**a) for a in values.get("attempts", [])]
        values["blobs"] = [BlobRef(**b) for b in values.get("blobs", [])]
        return cls(**values)


@dataclass
class Coverage:
    expected: list[str]
    executed: list[str]
    not_run: list[str]
    unexpected: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def coverage(expected: Iterable[str], results: Iterable[GateResult]) -> Coverage:
    expected_ids = list(dict.fromkeys(expected))
    by_id = {r.gate_id: r for r in results}
    executed = [g for g, r in by_id.items() if r.status != NOT_RUN]
    return Coverage(
        expected=expected_ids,
        executed=executed,
        not_run=[g for g in expected_ids if g not in by_id or by_id[g].status == NOT_RUN],
        unexpected=[g for g in by_id if g not in set(expected_ids)],
    )


def summary(results: Iterable[GateResult]) -> dict[str, int]:
    counts = Counter(r.status for r in results)
    return {status: counts.get(status, 0) for status in STATUSES}


def suite_exit_code(results: Iterable[GateResult]) -> int:
    """0 when every required gate is satisfied and at least one gate ran; else 1 (fail closed)."""
    items = list(results)
    if not any(r.status not in (NOT_RUN, SKIPPED) for r in items):
        return EXIT_GATE_FAILED
    if any(r.required and r.status not in SATISFIED for r in items):
        return EXIT_GATE_FAILED
    return EXIT_OK
