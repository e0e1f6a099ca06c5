"""What "healthy again" means after a rollback (``[reverify]`` of the decision policy).

A rollback is judged on the traffic since the rollback, which starts at nothing: a window gate
(``http.error_rate``) that has seen too little is ``inconclusive``, and judging it like a
deploy's gate would turn every rollback into a failure. So the policy says which gates must
pass, the window gates' own parameters for this judgement (a smaller ``min_samples``), how long
to wait for traffic, how an ``inconclusive`` that remains counts, and whether maintenance ends
once the stack verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ACCEPT, FAIL = "accept", "fail"


@dataclass(frozen=True)
class ReverifyPolicy:
    required: frozenset[str] | None = None  # None: every required gate of the suite
    inconclusive: str = ACCEPT
    max_wait_seconds: float = 180.0
    retry_seconds: float = 20.0
    maintenance: str = "off"  # after a rollback that verified: off | on
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: Mapping[str, Any] | None) -> ReverifyPolicy:
        table = table or {}
        required = table.get("required")
        return cls(
            required=frozenset(required) if required is not None else None,
            inconclusive=str(table.get("inconclusive", ACCEPT)),
            max_wait_seconds=float(table.get("max_wait_seconds", 180.0)),
            retry_seconds=float(table.get("retry_seconds", 20.0)),
            maintenance=str(table.get("maintenance", "off")),
            params={gate: dict(p) for gate, p in (table.get("params") or {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "required": sorted(self.required) if self.required is not None else None,
            "inconclusive": self.inconclusive,
            "max_wait_seconds": self.max_wait_seconds,
            "retry_seconds": self.retry_seconds,
            "maintenance": self.maintenance,
            "params": {gate: dict(p) for gate, p in self.params.items()},
        }

    def policy_layer(self) -> str:
        """The gates' parameters for the re-verification, as a policy file's TOML (laid over
        the environment's policy for that run only)."""
        lines = []
        for gate, params in sorted(self.params.items()):
            lines.append(f'[gates."{gate}".params]')
            lines += [f"{key} = {_toml(value)}" for key, value in sorted(params.items())]
        return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True)
class ReverifyVerdict:
    healthy: bool
    waiting: bool  # only inconclusive gates stand in the way: more traffic may settle them
    reason: str


def judge_reverify(results: list[Mapping[str, Any]], policy: ReverifyPolicy) -> ReverifyVerdict:
    """The verdict on one post-deploy run after a rollback (its results.json entries)."""
    by_gate = {str(r["gate_id"]): r for r in results}
    if policy.required is not None:
        wanted = set(policy.required)
    else:
        wanted = {gate for gate, r in by_gate.items() if r.get("required", True)}
    failing: list[str] = []
    short: list[str] = []
    for gate in sorted(wanted):
        result = by_gate.get(gate)
        if result is None:
            failing.append(f"{gate} has no result")
        elif result["status"] == "inconclusive":
            short.append(gate)
        elif result["status"] != "pass":
            klass = f" ({result['error_class']})" if result.get("error_class") else ""
            failing.append(f"{gate} {result['status']}{klass}")
    if failing:
        return ReverifyVerdict(False, False, "not healthy: " + "; ".join(failing))
    if short:
        names = ", ".join(short)
        if policy.inconclusive == FAIL:
            return ReverifyVerdict(False, True, f"too little traffic to judge {names}")
        return ReverifyVerdict(True, True, f"healthy; too little traffic to judge {names}")
    return ReverifyVerdict(True, False, f"healthy: {len(wanted)} required gate(s) passed")
