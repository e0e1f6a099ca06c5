"""The decision policy: the rollback triggers (the user's rules) and the fail-closed rules,
loaded from the bundled ``gates/decision.toml`` and a stack's ``[decision]`` table; and an
operator's override, which must say who and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.resources import gates_dir
from ..config.schema import first_problem
from ..core.errors import ConfigError
from ..core.results import ERROR, NOT_RUN, SKIPPED, GateResult
from ..core.textfile import read_toml
from .reverify import ReverifyPolicy

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
        if result.error_class == "stopped_early":
            return False  # not run because another trigger had decided: that one is the cause
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
    reverify: ReverifyPolicy = field(default_factory=ReverifyPolicy)

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
            "reverify": self.reverify.to_dict(),
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
            reverify = data.setdefault("reverify", {})
            for key, value in (extra.get("reverify") or {}).items():
                if key == "params":  # per gate, key by key over the bundled ones
                    for gate, params in value.items():
                        reverify.setdefault("params", {}).setdefault(gate, {}).update(params)
                else:
                    reverify[key] = value
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
        reverify=ReverifyPolicy.from_table(data.get("reverify")),
    )


def _checked(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    problem = first_problem(dict(data), "decision-policy")
    if problem is not None:
        prefix = "" if path.name == DECISION_FILE else "decision."
        raise ConfigError(f"{path}: {prefix}{problem}")
    return dict(data)
