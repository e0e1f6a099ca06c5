"""``decide(results, policy) -> promote | rollback | hold``, a pure function, with the rule that
fired and every input (DESIGN.md section 8).

Order: the operator's override (which must carry a reason, and is recorded next to what the
rules said); the rollback triggers (the user's rules, e.g. health failed after 3 retries); then
fail-closed rules (a critical gate that could not look rolls back); inconclusive holds; any
other required gate that did not pass holds; otherwise promote. Dry-run gates are reported,
never counted. With results still coming (``final=False``) only a trigger that has fired
decides: it cannot recover, so there is no point waiting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .resources import gates_dir
from .results import ERROR, INCONCLUSIVE, NOT_RUN, PASS, SKIPPED, WAIVED, GateResult
from .schema import first_problem
from .textfile import read_toml
from .timeutil import iso, utc_now

PROMOTE, HOLD, ROLLBACK = "promote", "hold", "rollback"
SEVERITY = {PROMOTE: 0, HOLD: 1, ROLLBACK: 2}
COULD_NOT_LOOK = frozenset({ERROR, NOT_RUN, SKIPPED})
DECISION_FILE = "decision.toml"


@dataclass(frozen=True)
class Trigger:
    name: str
    gate: str
    on: frozenset[str]
    verdict: str = ROLLBACK
    reason: str = ""
    min_attempts: int = 1
    error_classes: frozenset[str] = frozenset()

    def fires(self, result: GateResult) -> bool:
        # A gate that could not look is at least as bad as one that failed: a trigger on "fail"
        # also fires on "error" and "not_run", so losing the probe never avoids a rollback.
        statuses = self.on | (COULD_NOT_LOOK - {SKIPPED} if "fail" in self.on else frozenset())
        if result.gate_id != self.gate or result.status not in statuses:
            return False
        if self.error_classes and result.error_class not in self.error_classes:
            return False
        # "Fails after 3 retries": a health check that gave up early is not this trigger
        # (it still fails closed below, as a critical gate that did not pass).
        # Gates that make no numbered attempts (a log scan) record none: a trigger without a
        # retry count fires on their failure as it is.
        if result.status != "fail" or self.min_attempts <= 1:
            return True
        return len(result.attempts) >= self.min_attempts


@dataclass(frozen=True)
class DecisionPolicy:
    triggers: tuple[Trigger, ...]
    critical_could_not_look: str = ROLLBACK
    critical_fail: str = ROLLBACK
    inconclusive: str = HOLD
    other_failure: str = HOLD
    dry_run: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "triggers": [
                {
                    "name": t.name,
                    "gate": t.gate,
                    "on": sorted(t.on),
                    "verdict": t.verdict,
                    "min_attempts": t.min_attempts,
                    "error_classes": sorted(t.error_classes),
                }
                for t in self.triggers
            ],
            "rules": {
                "critical_could_not_look": self.critical_could_not_look,
                "critical_fail": self.critical_fail,
                "inconclusive": self.inconclusive,
                "other_failure": self.other_failure,
                "dry_run": sorted(self.dry_run),
            },
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Override:
    verdict: str
    reason: str
    by: str

    def __post_init__(self) -> None:
        if self.verdict not in SEVERITY:
            raise ConfigError(f"override verdict {self.verdict!r}: use promote, hold or rollback")
        if not self.reason.strip():
            raise ConfigError("an override must say why (--reason)")
        if not self.by.strip():
            raise ConfigError("an override must say who (by)")


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


def load_decision_policy(override: Path | None = None) -> DecisionPolicy:
    """The bundled ``gates/decision.toml``, then the ``[decision]`` table of ``override``."""
    bundled = gates_dir() / DECISION_FILE
    data = _checked(read_toml(bundled, "decision policy", ConfigError), bundled)
    sources = [str(bundled)]
    if override is not None:
        extra = read_toml(override, "policy file", ConfigError).get("decision")
        if extra is not None:
            if not isinstance(extra, dict):
                raise ConfigError(f"{override}: decision: expected a table")
            for name, trigger in extra.get("triggers", {}).items():
                data.setdefault("triggers", {})[name] = {
                    **data.get("triggers", {}).get(name, {}),
                    **trigger,
                }
            data.setdefault("rules", {}).update(extra.get("rules", {}))
            sources.append(str(override))
    problem = first_problem(data, "decision-policy")
    if problem is not None:
        prefix = "decision." if len(sources) > 1 else ""
        raise ConfigError(f"{sources[-1]}: {prefix}{problem}")
    rules = data.get("rules", {})
    triggers = tuple(
        Trigger(
            name=name,
            gate=t["gate"],
            on=frozenset(t["on"]),
            verdict=t.get("verdict", ROLLBACK),
            reason=t.get("reason", ""),
            min_attempts=t.get("min_attempts", 1),
            error_classes=frozenset(t.get("error_classes", ())),
        )
        for name, t in data.get("triggers", {}).items()
        if t.get("enabled", True)
    )
    return DecisionPolicy(
        triggers=triggers,
        critical_could_not_look=rules.get("critical_could_not_look", ROLLBACK),
        critical_fail=rules.get("critical_fail", ROLLBACK),
        inconclusive=rules.get("inconclusive", HOLD),
        other_failure=rules.get("other_failure", HOLD),
        dry_run=frozenset(rules.get("dry_run", ())),
        sources=tuple(sources),
    )


def _checked(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    problem = first_problem(dict(data), "decision-policy")
    if problem is not None:
        prefix = "" if path.name == DECISION_FILE else "decision."
        raise ConfigError(f"{path}: {prefix}{problem}")
    return dict(data)
