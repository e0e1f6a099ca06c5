"""The strict half of ``ipai evidence verify``: results.json is re-derived from the journal and
the policy snapshot, never trusted. Summary, coverage, exit code, required flags, severities
and every field of every result are recomputed or compared, and each disagreement is a problem
that names the field. (junit.xml and allure-results are held to the result in views_check.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.fsio import dump_json
from ..core.results import GateResult, coverage, summary
from .publish import derived_exit_code

# Fields results.json repeats from manifest.json.
MANIFEST_FIELDS = ("run_id", "suite", "scope", "env", "started_at", "finished_at", "interrupted")
EXIT_REASONS = ("suite", "tool_failure", "caller", "died")


def rederive(
    pack: Path, entries: list[dict[str, Any]], documents: dict[str, Any], regular: set[str]
) -> list[str]:
    results = documents.get("results.json")
    policy = documents.get("policy.json")
    if not isinstance(results, dict) or not entries:
        return []  # their own problems (missing, not JSON, schema) are reported already
    problems: list[str] = []
    start, finish = entries[0], entries[-1]
    if start.get("kind") != "start":
        problems.append("journal.jsonl:1: not the start entry")
    if finish.get("kind") != "finish":
        problems.append("journal.jsonl: no finish entry (the run's publication never began)")
        finish = {}
    if "policy.json" not in regular:
        problems.append("policy.json: missing file (results cannot be re-derived without it)")
    journaled = [e["result"] for e in entries if e.get("kind") == "result"]
    problems += _results(results, journaled)
    try:
        derived = [GateResult.from_dict(r) for r in journaled]
    except (TypeError, ValueError):
        return [*problems, "journal.jsonl: a result does not read as a gate result"]
    expected = _expected(policy, start, problems)
    problems += _against_policy(policy, derived)
    problems += _counts(results, derived, expected)
    problems += _finish(pack, results, documents, derived, finish, regular)
    if start.get("run_id") != results.get("run_id"):
        problems.append("journal.jsonl: the start entry's run_id disagrees with results.json")
    manifest = documents.get("manifest.json")
    if isinstance(manifest, dict):
        for key in MANIFEST_FIELDS:
            if results.get(key) != manifest.get(key):
                problems.append(f"results.json: {key} disagrees with manifest.json")
    return problems


def _results(results: dict[str, Any], journaled: list[dict[str, Any]]) -> list[str]:
    listed = results.get("results")
    if not isinstance(listed, list):
        return []
    problems = []
    by_gate = {r.get("gate_id"): r for r in listed if isinstance(r, dict)}
    truth = {r.get("gate_id"): r for r in journaled}
    for gate in sorted(set(by_gate) | set(truth), key=str):
        if gate not in truth:
            problems.append(f"results.json: gate {gate} is not in the journal")
        elif gate not in by_gate:
            problems.append(f"results.json: gate {gate} of the journal is missing")
        else:
            mine, real = by_gate[gate], truth[gate]
            for key in sorted(set(mine) | set(real)):
                if mine.get(key) != real.get(key):
                    problems.append(f"results.json: gate {gate} {key} disagrees with the journal")
    order = [r.get("gate_id") for r in listed if isinstance(r, dict)]
    if order != list(truth) and set(by_gate) == set(truth):
        problems.append("results.json: results are not in the journal's order")
    return problems


ENTRY_KEYS = ("gate_id", "suite", "severity", "required")


def _expected(policy: Any, start: dict[str, Any], problems: list[str]) -> list[str]:
    started = [
        {k: g.get(k) for k in ENTRY_KEYS} for g in start.get("expected", []) if isinstance(g, dict)
    ]
    if not isinstance(policy, dict) or not isinstance(policy.get("gates"), list):
        return [str(g["gate_id"]) for g in started]
    gates = [{k: g.get(k) for k in ENTRY_KEYS} for g in policy["gates"] if isinstance(g, dict)]
    if gates != started:
        problems.append("journal.jsonl: the start entry's expected gates disagree with policy.json")
    return [str(g["gate_id"]) for g in gates]


def _against_policy(policy: Any, derived: list[GateResult]) -> list[str]:
    if not isinstance(policy, dict) or not isinstance(policy.get("gates"), list):
        return []
    gates = {g.get("gate_id"): g for g in policy["gates"] if isinstance(g, dict)}
    problems = []
    have = {r.gate_id for r in derived}
    for gate_id in gates:
        if gate_id not in have:
            problems.append(f"journal.jsonl: gate {gate_id} of policy.json has no result")
    for result in derived:
        gate = gates.get(result.gate_id)
        if gate is None:
            continue
        for key in ("required", "severity", "suite"):
            if gate.get(key) != getattr(result, key):
                problems.append(
                    f"journal.jsonl: gate {result.gate_id} {key} disagrees with policy.json"
                )
    return problems


def _counts(results: dict[str, Any], derived: list[GateResult], expected: list[str]) -> list[str]:
    problems = []
    recounted = summary(derived)
    given = results.get("summary")
    for status, count in recounted.items():
        if not isinstance(given, dict) or given.get(status) != count:
            problems.append(f"results.json: summary.{status} is not {count} (the journal's count)")
    recovered = coverage(expected, derived).to_dict()
    given_cov = results.get("coverage")
    for key, ids in recovered.items():
        if not isinstance(given_cov, dict) or given_cov.get(key) != ids:
            problems.append(f"results.json: coverage.{key} disagrees with the journal and policy")
    return problems


def _finish(
    pack: Path,
    results: dict[str, Any],
    documents: dict[str, Any],
    derived: list[GateResult],
    finish: dict[str, Any],
    regular: set[str],
) -> list[str]:
    if not finish:
        return []
    problems = []
    code, reason = finish.get("exit_code"), finish.get("exit_reason")
    if results.get("exit_code") != code:
        problems.append("results.json: exit_code disagrees with the journal's finish entry")
    if results.get("interrupted") != finish.get("interrupted"):
        problems.append("results.json: interrupted disagrees with the journal's finish entry")
    if results.get("finished_at") != finish.get("finished_at"):
        problems.append("results.json: finished_at disagrees with the journal's finish entry")
    found = finish.get("documents")
    journaled_docs: dict[str, Any] = found if isinstance(found, dict) else {}
    decision = journaled_docs.get("decision.json")
    # A deploy's driver sets its exit code ("caller") and its pack holds deploy_result.json;
    # only a run that died or a tool failure is interrupted.
    if (reason == "caller") != ("deploy_result.json" in journaled_docs) and reason != "died":
        problems.append(f"journal.jsonl: finish exit_reason {reason} does not fit this pack")
    if finish.get("interrupted") != (reason in ("died", "tool_failure")):
        problems.append(f"journal.jsonl: finish interrupted does not fit exit_reason {reason}")
    if reason == "suite":
        should = derived_exit_code(derived, decision if isinstance(decision, dict) else None)
        if code != should:
            problems.append(
                f"journal.jsonl: finish exit_code {code} does not follow from the results"
            )
    elif reason == "tool_failure" and code != 2:
        problems.append("journal.jsonl: finish exit_code of a tool failure is not 2")
    elif reason == "died" and code == 0:
        problems.append("journal.jsonl: finish exit_code of a run that died is 0")
    elif reason not in EXIT_REASONS:
        problems.append(f"journal.jsonl: finish exit_reason {reason!r} is unknown")
    documents_journaled = finish.get("documents")
    if not isinstance(documents_journaled, dict):
        return [*problems, "journal.jsonl: the finish entry holds no documents"]
    for name, content in sorted(documents_journaled.items()):
        if name not in regular:
            problems.append(f"{name}: missing file (the journal's finish entry holds it)")
        elif name in documents:
            problems += [
                f"{name}: {where} disagrees with the journal"
                for where in differences(documents[name], content)
            ]
        elif (pack / name).read_bytes() != dump_json(content):
            problems.append(f"{name}: disagrees with the journal")
    for name in sorted(regular):
        top_json = "/" not in name and name.endswith(".json") and name != "results.json"
        if top_json and name not in documents_journaled:
            problems.append(f"{name}: not a document of the journal's finish entry")
    return problems


def differences(mine: Any, truth: Any, path: str = "", limit: int = 20) -> list[str]:
    """The dotted paths where two JSON values differ (the first ``limit`` of them)."""
    found: list[str] = []
    stack = [(path, mine, truth)]
    while stack and len(found) < limit:
        where, a, b = stack.pop()
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str, reverse=True):
                stack.append((f"{where}.{key}" if where else str(key), a.get(key), b.get(key)))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for index in range(len(a) - 1, -1, -1):
                stack.append((f"{where}[{index}]", a[index], b[index]))
        elif a != b or type(a) is not type(b):
            found.append(where or "the document")
    return found
