"""The decision engine: triggers, fail-closed rules, dry-run gates, overrides, early decisions;
property tests; and decision.json in a real pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import by_gate, load, only_pack, run_ipai
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ipai.core.errors import ConfigError
from pytest_ipai.core.results import Attempt, GateResult
from pytest_ipai.decision.decide import decide
from pytest_ipai.decision.policy import (
    HOLD,
    PROMOTE,
    ROLLBACK,
    SEVERITY,
    Override,
    load_decision_policy,
)

POLICY = load_decision_policy()
GATES = {
    "http.health": "critical",
    "http.error_rate": "critical",
    "db.reachable": "critical",
    "db.migrations_applied": "critical",
    "logs.no_errors": "normal",
    "net.no_public_ports": "critical",
}


def result(
    gate: str,
    status: str = "pass",
    attempts: int = 1,
    severity: str | None = None,
    error_class: str | None = None,
) -> GateResult:
    return GateResult(
        gate_id=gate,
        suite="postdeploy",
        status=status,
        severity=severity or GATES.get(gate, "normal"),
        error_class=error_class,
        attempts=[Attempt(at="2026-11-24T18:00:00.000Z", outcome="x") for _ in range(attempts)],
    )


def healthy(**changes: str) -> list[GateResult]:
    return [result(g, changes.get(g, "pass")) for g in GATES]


@pytest.mark.parametrize(
    ("gate", "status", "rule"),
    [
        ("http.error_rate", "fail", "trigger:error_rate_exceeded"),
        ("db.reachable", "error", "trigger:database_connection"),
        ("db.reachable", "fail", "trigger:database_connection"),
        ("db.migrations_applied", "fail", "trigger:module_installation"),
    ],
)
def test_user_triggers_roll_back(gate: str, status: str, rule: str) -> None:
    decision = decide(healthy(**{gate: status}), POLICY)
    assert (decision.verdict, decision.rule) == (ROLLBACK, rule)
    assert gate in decision.reason


def test_triggers_fire_on_gates_that_record_no_attempts() -> None:
    # The log and error-rate gates scan once and record no attempts (as the real gates do).
    results = [result(g, attempts=0) for g in GATES if g != "http.error_rate"]
    results.append(result("http.error_rate", "fail", attempts=0, error_class="error_rate_exceeded"))
    decision = decide(results, POLICY)
    assert (decision.verdict, decision.rule) == (ROLLBACK, "trigger:error_rate_exceeded")


def test_gates_stopped_by_an_early_decision_do_not_take_its_blame() -> None:
    """The database trigger stopped the suite: the error-rate gate never ran, and the verdict
    names the database, not a 5xx rate nobody measured."""
    results = healthy(**{"db.reachable": "fail"})
    results = [r for r in results if r.gate_id != "http.error_rate"]
    results.append(result("http.error_rate", "not_run", attempts=0, error_class="stopped_early"))
    decision = decide(results, POLICY)
    assert (decision.verdict, decision.rule) == (ROLLBACK, "trigger:database_connection")
    # Not run for any other reason still fails closed through its trigger.
    results[-1] = result("http.error_rate", "not_run", attempts=0)
    assert decide(results, POLICY).rule == "trigger:error_rate_exceeded"


def test_health_trigger_needs_three_attempts() -> None:
    results = [
        *healthy()[1:],
        result("http.health", "fail", attempts=3, error_class="health_failed"),
    ]
    decision = decide(results, POLICY)
    assert (decision.verdict, decision.rule) == (ROLLBACK, "trigger:health_failed")
    assert (
        decision.reason == "health check failed after 3 retries: http.health fail (health_failed)"
    )
    gave_up_early = [*healthy()[1:], result("http.health", "fail", attempts=1)]
    decision = decide(gave_up_early, POLICY)
    assert (decision.verdict, decision.rule) == (ROLLBACK, "critical_fail")  # still fails closed


@pytest.mark.parametrize("status", ["error", "not_run", "skipped"])
def test_critical_gate_that_could_not_look_rolls_back(status: str) -> None:
    decision = decide(healthy(**{"net.no_public_ports": status}), POLICY)
    assert (decision.verdict, decision.rule) == (ROLLBACK, "critical_could_not_look")


def test_inconclusive_holds_and_policy_can_say_otherwise(tmp_path: Path) -> None:
    results = healthy(**{"http.error_rate": "inconclusive"})
    assert (decide(results, POLICY).verdict, decide(results, POLICY).rule) == (HOLD, "inconclusive")
    override = tmp_path / "prod.toml"
    override.write_text('[decision.rules]\ninconclusive = "promote"\n')
    assert decide(results, load_decision_policy(override)).verdict == PROMOTE


def test_noncritical_failure_holds_and_all_passing_promotes() -> None:
    decision = decide(healthy(**{"logs.no_errors": "fail"}), POLICY)
    assert (decision.verdict, decision.rule) == (HOLD, "other_failure")
    decision = decide(healthy(), POLICY)
    assert (decision.verdict, decision.rule) == (PROMOTE, "all_passed")
    assert decide([], POLICY).verdict == ROLLBACK  # nothing ran: fail closed


def test_dry_run_gates_are_reported_never_counted(tmp_path: Path) -> None:
    override = tmp_path / "prod.toml"
    override.write_text('[decision.rules]\ndry_run = ["net.no_public_ports"]\n')
    policy = load_decision_policy(override)
    decision = decide(healthy(**{"net.no_public_ports": "fail"}), policy)
    assert decision.verdict == PROMOTE
    assert decision.inputs["dry_run"] == ["net.no_public_ports"]
    assert len(decision.inputs["results"]) == len(GATES)


def test_override_needs_a_reason_and_is_recorded() -> None:
    with pytest.raises(ConfigError, match="an override must say why"):
        Override(PROMOTE, "  ", "alice")
    decision = decide(
        healthy(**{"http.error_rate": "fail"}),
        POLICY,
        override=Override(PROMOTE, "error spike from a known crawler", "alice"),
    )
    data = decision.to_dict()
    assert (data["verdict"], data["rule"]) == (PROMOTE, "operator_override")
    assert data["override"] == {
        "verdict": PROMOTE,
        "reason": "error spike from a known crawler",
        "by": "alice",
    }
    assert data["computed"] == {"verdict": ROLLBACK, "rule": "trigger:error_rate_exceeded"}


def test_early_decision_only_when_a_trigger_fired() -> None:
    partial = [result("http.health", "pass"), result("db.reachable", "error")]
    assert decide(partial, POLICY, final=False).verdict == ROLLBACK
    still_coming = [result("http.health", "pass")]
    decision = decide(still_coming, POLICY, final=False)
    assert (decision.verdict, decision.rule) == (None, "undecided")


def test_bad_decision_policy_is_one_line(tmp_path: Path) -> None:
    override = tmp_path / "prod.toml"
    override.write_text('[decision.rules]\ninconclusive = "maybe"\n')
    with pytest.raises(
        ConfigError, match=r"prod\.toml: decision\.rules\.inconclusive: must be one of"
    ):
        load_decision_policy(override)
    override.write_text("[decision.triggers.error_rate_exceeded]\nenabled = false\n")
    policy = load_decision_policy(override)
    assert "error_rate_exceeded" not in {t.name for t in policy.triggers}


STATUSES = ["pass", "fail", "error", "skipped", "waived", "not_run", "inconclusive"]
WORSE = {
    "pass": ["fail", "error", "not_run", "inconclusive", "skipped"],
    "waived": ["fail", "error", "not_run"],
    "inconclusive": ["fail", "error", "not_run"],
    "skipped": ["fail", "error", "not_run"],
    "fail": ["error", "not_run"],
}
RULES = {
    "operator_override",
    "critical_could_not_look",
    "critical_fail",
    "inconclusive",
    "other_failure",
    "all_passed",
    "nothing_ran",
} | {f"trigger:{t.name}" for t in POLICY.triggers}


@st.composite
def result_sets(draw: st.DrawFn) -> list[GateResult]:
    gates = draw(
        st.lists(st.sampled_from([*GATES, "acme.extra", "acme.other"]), min_size=1, unique=True)
    )
    return [
        result(
            g,
            draw(st.sampled_from(STATUSES)),
            attempts=draw(st.integers(1, 4)),
            severity=draw(st.sampled_from(["critical", "normal", "minor"])),
        )
        for g in gates
    ]


@settings(max_examples=400, deadline=None)
@given(result_sets(), st.data())
def test_adding_a_failure_never_improves_the_verdict(
    results: list[GateResult], data: st.DataObject
) -> None:
    before = decide(results, POLICY)
    index = data.draw(st.integers(0, len(results) - 1))
    current = results[index]
    choices = WORSE.get(current.status, [])
    if not choices:
        return
    worse = list(results)
    worse[index] = result(
        current.gate_id,
        data.draw(st.sampled_from(choices)),
        attempts=len(current.attempts) + 3,
        severity=current.severity,
    )
    after = decide(worse, POLICY)
    assert SEVERITY[str(after.verdict)] >= SEVERITY[str(before.verdict)], (before.rule, after.rule)
    # ...and so does adding a gate that failed.
    more = decide([*results, result("acme.new", "fail", severity="critical")], POLICY)
    assert SEVERITY[str(more.verdict)] >= SEVERITY[str(before.verdict)]


@settings(max_examples=300, deadline=None)
@given(result_sets())
def test_every_verdict_names_the_rule_that_fired(results: list[GateResult]) -> None:
    decision = decide(results, POLICY)
    assert decision.verdict in SEVERITY
    assert decision.rule in RULES
    assert decision.reason
    assert {r["gate_id"] for r in decision.inputs["results"]} == {r.gate_id for r in results}


HEALTH = """
import pytest

pytestmark = pytest.mark.postdeploy


@pytest.mark.gate("http.health", severity="critical")
def test_health(ipai_gate):
    for n in range(3):
        ipai_gate.attempt("failed", f"503 on try {n + 1}")
    ipai_gate.fail("health_failed", "GET /web/health?db_server_status=1 answered 503 three times")


@pytest.mark.gate("db.reachable", severity="critical")
def test_db():
    pass
"""


def test_plugin_writes_the_decision_into_the_pack(project: Any) -> None:
    critical = {"suite": "postdeploy", "severity": "critical"}
    p = project({"http.health": critical, "db.reachable": critical}, suite="postdeploy")
    p.pytester.makepyfile(test_post=HEALTH)
    result = p.pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--ipai-config",
        "ipai.toml",
        "-m",
        "postdeploy",
        "--ipai-decide",
        ".",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*decision: rollback (trigger:health_failed)*"])
    pack = only_pack(p.evidence)
    decision = load(pack, "decision.json")
    assert (decision["verdict"], decision["rule"]) == ("rollback", "trigger:health_failed")
    assert {r["gate_id"] for r in decision["inputs"]["results"]} == {"http.health", "db.reachable"}
    assert by_gate(pack)["http.health"]["attempts"][2]["detail"] == "503 on try 3"
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0
    bad = p.pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--ipai-config",
        "ipai.toml",
        "-m",
        "postdeploy",
        "--ipai-override",
        "promote",
        ".",
    )
    assert bad.ret == 2
    assert "an override must say why" in bad.stderr.str()
    assert json.loads((pack / "results.json").read_text())["exit_code"] == 1


EARLY = """
import time

import pytest

pytestmark = pytest.mark.postdeploy


@pytest.mark.gate("db.reachable", severity="critical")
def test_db(ipai_gate):
    ipai_gate.fail("db_unreachable", "connection refused")


@pytest.mark.gate("logs.no_errors", severity="critical")
def test_logs_take_long():
    time.sleep(1)
"""


@pytest.mark.parametrize("xdist", [False, True])
def test_a_fired_trigger_stops_the_suite_early(project: Any, xdist: bool) -> None:
    critical = {"suite": "postdeploy", "severity": "critical"}
    gates = {"db.reachable": critical, "logs.no_errors": critical}
    gates |= {f"x.later{n}": critical for n in range(6)}
    p = project(gates, suite="postdeploy")
    later = "".join(
        f'\n@pytest.mark.gate("x.later{n}", severity="critical")\ndef test_later{n}():\n'
        "    time.sleep(1)\n"
        for n in range(6)
    )
    p.pytester.makepyfile(test_post=EARLY + later)
    extra = ["-n", "1"] if xdist else []
    result = p.pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--ipai-config",
        "ipai.toml",
        "-m",
        "postdeploy",
        "--ipai-decide",
        *extra,
        ".",
    )
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*early decision: trigger:database_connection*"])
    pack = only_pack(p.evidence)
    assert load(pack, "decision.json")["rule"] == "trigger:database_connection"
    results = by_gate(pack)
    skipped = [g for g, r in results.items() if r["status"] == "not_run"]
    assert len(skipped) >= 5  # the suite did not wait for them
    assert "stopped at an early decision" in results[skipped[-1]]["message"]
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0
