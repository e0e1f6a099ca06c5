"""junit.xml for CI user interfaces, rendered from results.json (not from pytest's own report,
so not_run gates and crashed workers appear, and every line has been redacted already)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

# Status -> junit child element. not_run is an error: a required gate that never ran is not a
# pass in any UI.
CHILD = {
    "fail": "failure",
    "error": "error",
    "not_run": "error",
    "skipped": "skipped",
    "waived": "skipped",
    "inconclusive": "skipped",
}


def failure_message(result: dict[str, Any]) -> str:
    return f"{result['status']}: {result['message']}"[:1000]


def counts(results: list[dict[str, Any]]) -> dict[str, int]:
    """The testsuite's tests / failures / errors / skipped attributes."""
    kinds = [CHILD.get(str(r.get("status"))) for r in results]
    return {
        "tests": len(results),
        "failures": kinds.count("failure"),
        "errors": kinds.count("error"),
        "skipped": kinds.count("skipped"),
    }


def render(document: dict[str, Any]) -> bytes:
    results: list[dict[str, Any]] = document["results"]
    counts = {"failure": 0, "error": 0, "skipped": 0}
    suites = ET.Element("testsuites", name=f"pytest-ipai {document['scope']}")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=document["suite"],
        timestamp=document["started_at"],
        hostname=(results[0]["host"] if results else ""),
    )
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "scope", "env", "exit_code", "interrupted"):
        ET.SubElement(props, "property", name=key, value=str(document[key]))
    total_time = 0.0
    for result in results:
        total_time += float(result["duration"])
        case = ET.SubElement(
            suite,
            "testcase",
            classname=document["suite"],
            name=result["gate_id"],
            time=f"{float(result['duration']):.3f}",
        )
        case_props = ET.SubElement(case, "properties")
        for key in ("status", "error_class", "severity", "required", "nodeid"):
            if result.get(key) is not None:
                ET.SubElement(case_props, "property", name=key, value=str(result[key]))
        child = CHILD.get(result["status"])
        if child is None:
            continue
        counts[child] += 1
        element = ET.SubElement(
            case,
            child,
            message=failure_message(result),
            type=result.get("error_class") or result["status"],
        )
        if child != "skipped":
            element.text = result.get("details") or result["message"]
    suite.set("tests", str(len(results)))
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", f"{total_time:.3f}")
    ET.indent(suites)
    rendered: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return rendered + b"\n"
