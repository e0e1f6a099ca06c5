"""``decide(results, policy) -> promote | rollback | hold``, a pure function, with the rule that
fired and every input (docs/decisions.md).

Order: the operator's override (which must carry a reason, and is recorded next to what the
rules said); the rollback triggers (the user's rules, e.g. health failed after 3 retries); then
fail-closed rules (a critical gate that could not look rolls back); inconclusive holds; any
other required gate that did not pass holds; otherwise promote. Dry-run gates are reported,
never counted. With results still coming (``final=False``) only a trigger that has fired
decides: it cannot recover, so there is no point waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.results import INCONCLUSIVE, PASS, WAIVED, GateResult
from ..core.timeutil import iso, utc_now
from .policy import COULD_NOT_LOOK, PROMOTE, DecisionPolicy, Override


@dataclass
class Decision:
    verdict: str | None  # None: not decided yet (results still coming)
    rule: str
    reason: str
    inputs: dict[str, Any] = field(default_factory=dict)
    override: dict[str, Any] | None = None
    computed: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "rule": self.rule,
            "reason": self.reason,
            "inputs": self.inputs,
            "decided_at": iso(utc_now()),
        }
        if self.override is not None:
            data["override"] = self.override
            data["computed"] = self.computed
        return data


def decide(
    results: Iterable[GateResult],
    policy: DecisionPolicy,
    *,
    final: bool = True,
    override: Override | None = None,
) -> Decision:
    items = list(results)
    counted = [r for r in items if r.gate_id not in policy.dry_run]
    inputs = {
        "final": final,
        "results": [
            {
                "gate_id": r.gate_id,
                "status": r.status,
                "severity": r.severity,
                "required": r.required,
                "error_class": r.error_class,
                "attempts": len(r.attempts),
            }
            for r in items
        ],
        "dry_run": sorted(r.gate_id for r in items if r.gate_id in policy.dry_run),
        "policy": policy.to_dict(),
    }
    computed = _rules(counted, policy, final)
    computed.inputs = inputs
    if override is None:
        return computed
    return Decision(
        verdict=override.verdict,
        rule="operator_override",
        reason=override.reason,
        inputs=inputs,
        override={"verdict": override.verdict, "reason": override.reason, "by": override.by},
        computed={"verdict": str(computed.verdict), "rule": computed.rule},
    )


def _rules(results: list[GateResult], policy: DecisionPolicy, final: bool) -> Decision:
    for trigger in policy.triggers:
        fired = [r for r in results if trigger.fires(r)]
        if fired:
            gate = fired[0]
            detail = f"{gate.gate_id} {gate.status}" + (
                f" ({gate.error_class})" if gate.error_class else ""
            )
            return Decision(
                trigger.verdict,
                f"trigger:{trigger.name}",
                f"{trigger.reason or trigger.name}: {detail}",
            )
    if not final:
        return Decision(None, "undecided", "results still coming; no trigger has fired")
    if not results:
        return Decision(policy.critical_could_not_look, "nothing_ran", "no gate result to judge")
    critical = [r for r in results if r.severity == "critical"]
    blind = [r for r in critical if r.status in COULD_NOT_LOOK]
    if blind:
        return Decision(
            policy.critical_could_not_look,
            "critical_could_not_look",
            _names(blind) + ": a critical gate could not look",
        )
    failed = [r for r in critical if r.status == "fail"]
    if failed:
        return Decision(
            policy.critical_fail, "critical_fail", _names(failed) + ": critical gate failed"
        )
    unsure = [r for r in results if r.required and r.status == INCONCLUSIVE]
    if unsure and policy.inconclusive != PROMOTE:
        return Decision(
            policy.inconclusive, "inconclusive", _names(unsure) + ": too little to judge"
        )
    others = [r for r in results if r.required and r.status not in (PASS, WAIVED, INCONCLUSIVE)]
    if others:
        return Decision(policy.other_failure, "other_failure", _names(others) + ": did not pass")
    return Decision(PROMOTE, "all_passed", "every counted gate passed")


def _names(results: list[GateResult]) -> str:
    return ", ".join(f"{r.gate_id} {r.status}" for r in results)
