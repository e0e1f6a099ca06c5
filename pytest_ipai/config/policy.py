"""Gate policy: which gates form each suite, with severity, timeout and parameters.

The bundled ``gates/*.toml`` are the defaults; an environment's ``policy`` file overrides them
gate by gate (and may add the user's own gates, naming their suite).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.textfile import first_path, read_toml
from .resources import gates_dir
from .schema import first_problem

SEVERITIES = ("critical", "normal", "minor")


@dataclass(frozen=True)
class GatePolicy:
    gate_id: str
    suite: str
    severity: str = "normal"
    required: bool = True
    enabled: bool = True
    timeout: float = 120.0
    title: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()  # tools checked before the suite runs ("engine")


@dataclass(frozen=True)
class Policy:
    gates: dict[str, GatePolicy]
    sources: tuple[str, ...]
    declared_suites: frozenset[str] = frozenset()

    def expected(self, suite: str) -> list[GatePolicy]:
        return [g for g in self.gates.values() if g.suite == suite and g.enabled]

    def suites(self) -> list[str]:
        return sorted({g.suite for g in self.gates.values()} | self.declared_suites)

    def get(self, gate_id: str) -> GatePolicy | None:
        return self.gates.get(gate_id)


def _read(path: Path, validate: bool = True) -> dict[str, Any]:
    data = read_toml(path, "policy file", ConfigError)
    problem = (_not_finite(data) or first_problem(data, "policy")) if validate else None
    if problem is not None:
        raise ConfigError(f"{path}: {problem}")
    return data


def _not_finite(data: Any) -> str | None:
    """TOML has nan and inf, which pass every range in a schema (nan compares false with
    everything) and turn a timeout off: no number in a policy may be one."""
    where = first_path(data, lambda v: isinstance(v, float) and not math.isfinite(v))
    return None if where is None else f"{where}: must be a finite number"


def _merge(gates: dict[str, GatePolicy], data: dict[str, Any], path: Path) -> None:
    defaults = data.get("defaults", {})
    file_suite = data.get("suite")
    for gate_id, entry in data.get("gates", {}).items():
        base = gates.get(gate_id)
        suite = entry.get("suite") or (base.suite if base else file_suite)
        if suite is None:
            raise ConfigError(f"{path}: gates.{gate_id}.suite: required for a gate of your own")

        def pick(
            key: str,
            fallback: Any,
            entry: dict[str, Any] = entry,
            base: GatePolicy | None = base,
        ) -> Any:
            if key in entry:
                return entry[key]
            if base is not None:
                return getattr(base, key)
            return defaults.get(key, fallback)

        gates[gate_id] = GatePolicy(
            gate_id=gate_id,
            suite=suite,
            severity=pick("severity", "normal"),
            required=pick("required", True),
            enabled=pick("enabled", True),
            timeout=float(pick("timeout", 120.0)),
            title=pick("title", ""),
            needs=frozenset(pick("needs", ())),
            params={**(base.params if base else {}), **entry.get("params", {})},
        )


def load_policy(
    override: Path | None = None,
    bundled: Path | None = None,
    *,
    validate: bool = True,
    layers: Sequence[Path] = (),
) -> Policy:
    """Bundled policy files (sorted by name), then the environment's override, if any, then
    ``layers`` (a run's own adjustments, such as a rollback's re-verification params)."""
    folder = bundled or gates_dir()
    gates: dict[str, GatePolicy] = {}
    sources: list[str] = []
    suites: set[str] = set()
    # decision.toml is the decision policy (pytest_ipai.decision.decide), not a suite's gates.
    bundled_files = sorted(p for p in folder.glob("*.toml") if p.name != "decision.toml")
    paths = bundled_files + ([override] if override is not None else []) + list(layers)
    # The packaged policy is validated by the test suite (tests/test_schemas.py), not per run.
    packaged = set(bundled_files) if bundled is None else set()
    for path in paths:
        data = _read(path, validate and path not in packaged)
        _merge(gates, data, path)
        if "suite" in data:
            suites.add(data["suite"])
        sources.append(str(path))
    return Policy(gates=gates, sources=tuple(sources), declared_suites=frozenset(suites))
