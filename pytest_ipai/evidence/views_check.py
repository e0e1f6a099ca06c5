"""junit.xml and allure-results must tell what results.json tells, gate by gate: a `<failure>`
stripped, an Allure result set to passed or a gate dropped from a view is a named problem.
(results.json itself is held to the journal in rederive.)"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .allure import STATUS as ALLURE_STATUS
from .allure import case_title, case_uuid, shown_message
from .junit import CHILD as JUNIT_CHILD
from .junit import counts as junit_counts
from .junit import failure_message as junit_message

MAX_VIEW_BYTES = 64 * 1024 * 1024


def check_views(pack: Path, results: Any, regular: set[str]) -> list[str]:
    if not isinstance(results, dict) or not isinstance(results.get("results"), list):
        return []
    gates = {r.get("gate_id"): r for r in results["results"] if isinstance(r, dict)}
    problems = []
    if "junit.xml" in regular:
        problems += _junit(pack / "junit.xml", results, gates)
    problems += _allure(pack, results, gates, regular)
    return problems


def _junit(path: Path, results: dict[str, Any], gates: dict[Any, dict[str, Any]]) -> list[str]:
    if path.stat().st_size > MAX_VIEW_BYTES:
        return [f"junit.xml: larger than {MAX_VIEW_BYTES} bytes"]
    try:
        tree = ET.parse(path)  # noqa: S314 - expat refuses entity expansion bombs
    except ET.ParseError as exc:
        return [f"junit.xml: not valid XML ({exc})"]
    problems = []
    seen = set()
    suite = tree.getroot().find("testsuite")
    props = {} if suite is None else _properties(suite)
    for key in ("run_id", "exit_code", "interrupted"):
        if props.get(key) != str(results.get(key)):
            problems.append(f"junit.xml: property {key} disagrees with results.json")
    if suite is not None:
        counts = junit_counts(list(gates.values()))
        for key, count in counts.items():
            if suite.get(key) != str(count):
                problems.append(f"junit.xml: testsuite {key} is not {count} (results.json)")
    for case in tree.getroot().iter("testcase"):
        gate_id = case.get("name")
        seen.add(gate_id)
        result = gates.get(gate_id)
        if result is None:
            problems.append(f"junit.xml: testcase {gate_id} is not a gate of results.json")
            continue
        children = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        want = JUNIT_CHILD.get(result.get("status", ""))
        if children != ([want] if want else []):
            got = children[0] if children else "no child (a pass)"
            problems.append(
                f"junit.xml: testcase {gate_id} is {got}, results.json says {result.get('status')}"
            )
        elif want is not None:
            element = case.find(want)
            kind = result.get("error_class") or result.get("status")
            if element is not None and element.get("type") != kind:
                problems.append(f"junit.xml: testcase {gate_id} type disagrees with results.json")
            if element is not None and element.get("message") != junit_message(result):
                problems.append(
                    f"junit.xml: testcase {gate_id} message disagrees with results.json"
                )
        case_props = _properties(case)
        for key in ("status", "severity", "required", "error_class"):
            value = result.get(key)
            if (None if value is None else str(value)) != case_props.get(key):
                problems.append(
                    f"junit.xml: testcase {gate_id} property {key} disagrees with results.json"
                )
    for gate_id in sorted(set(gates) - seen, key=str):
        problems.append(f"junit.xml: gate {gate_id} of results.json has no testcase")
    return problems


def _properties(element: ET.Element) -> dict[str, str | None]:
    found = element.find("properties")
    if found is None:
        return {}
    return {p.get("name") or "": p.get("value") for p in found.iter("property")}


def _allure(
    pack: Path, results: dict[str, Any], gates: dict[Any, dict[str, Any]], regular: set[str]
) -> list[str]:
    problems = []
    files = {r for r in regular if r.startswith("allure-results/") and r.endswith("-result.json")}
    for gate_id, result in sorted(gates.items(), key=lambda item: str(item[0])):
        rel = f"allure-results/{case_uuid(str(results.get('run_id')), str(gate_id))}-result.json"
        if rel not in files:
            problems.append(f"allure-results: gate {gate_id} of results.json has no result file")
            continue
        files.discard(rel)
        try:
            if (pack / rel).stat().st_size > MAX_VIEW_BYTES:
                raise ValueError("too large")
            record = json.loads((pack / rel).read_text("utf-8"))
        except (ValueError, UnicodeDecodeError):
            problems.append(f"{rel}: not valid JSON")
            continue
        if not isinstance(record, dict):
            problems.append(f"{rel}: not an Allure result")
            continue
        labels = {
            lab.get("name"): lab.get("value")
            for lab in record.get("labels", [])
            if isinstance(lab, dict)
        }
        checks = {
            "status": (record.get("status"), ALLURE_STATUS.get(result.get("status", ""))),
            "message": (
                (record.get("statusDetails") or {}).get("message"),
                shown_message(result),
            ),
            "severity": (labels.get("severity"), result.get("severity")),
            "feature": (labels.get("feature"), gate_id),
            "error class tag": (labels.get("tag"), result.get("error_class")),
            "name": (record.get("name"), case_title(result)),
        }
        for key, (got, want) in checks.items():
            if got != want:
                problems.append(f"{rel}: {key} disagrees with results.json (gate {gate_id})")
    for rel in sorted(files):
        problems.append(f"{rel}: not a gate of results.json")
    return problems
