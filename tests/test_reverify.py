"""What healthy again means after a rollback: the [reverify] rules of the decision policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_ipai.core.errors import ConfigError
from pytest_ipai.decision.policy import load_decision_policy
from pytest_ipai.decision.reverify import judge_reverify

POLICY = load_decision_policy()


def _rows(**statuses: str) -> list[dict[str, Any]]:
    return [
        {"gate_id": gate, "status": status, "required": True,
         "error_class": None if status in ("pass", "inconclusive") else "x"}
        for gate, status in statuses.items()
    ]  # fmt: skip


def test_reverify_judges_the_traffic_since_the_rollback_by_its_own_rules(tmp_path: Path) -> None:
    policy = POLICY.reverify
    assert policy.inconclusive == "accept" and policy.maintenance == "off"
    assert policy.params["http.error_rate"]["min_samples"] == 5  # its own, smaller sample
    assert policy.policy_layer() == '[gates."http.error_rate".params]\nmin_samples = 5\n'
    healthy = judge_reverify(_rows(**{"http.health": "pass", "http.error_rate": "pass"}), policy)
    assert (healthy.healthy, healthy.waiting) == (True, False)
    quiet = _rows(**{"http.health": "pass", "http.error_rate": "inconclusive"})
    verdict = judge_reverify(quiet, policy)
    assert (verdict.healthy, verdict.waiting) == (True, True)  # accepted, worth waiting for
    assert "too little traffic to judge http.error_rate" in verdict.reason
    broken = judge_reverify(_rows(**{"http.health": "fail", "http.error_rate": "inconclusive"}),
                            policy)  # fmt: skip
    assert (broken.healthy, broken.waiting) == (False, False)  # a failure is final
    assert "http.health fail (x)" in broken.reason
    strict_file = tmp_path / "prod.toml"
    strict_file.write_text(
        '[decision.reverify]\ninconclusive = "fail"\nrequired = ["http.health"]\n'
        'maintenance = "on"\n[decision.reverify.params."http.error_rate"]\nwindow_minutes = 3\n'
    )
    strict = load_decision_policy(strict_file).reverify
    assert strict.maintenance == "on"
    assert dict(strict.params["http.error_rate"]) == {"min_samples": 5, "window_minutes": 3}
    assert judge_reverify(quiet, strict).healthy  # only http.health is required
    assert not judge_reverify(_rows(**{"http.health": "inconclusive"}), strict).healthy
    assert judge_reverify([], strict).reason == "not healthy: http.health has no result"


def test_a_mistyped_reverify_policy_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "prod.toml"
    bad.write_text('[decision.reverify]\ninconclusive = "maybe"\n')
    with pytest.raises(ConfigError, match=r"prod.toml: decision.reverify.inconclusive"):
        load_decision_policy(bad)
