"""junit.xml is built as text for speed: it must be the very bytes ElementTree writes for the
same tree, whatever the results hold (markup, quotes, line breaks, tabs, non-ASCII)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ipai.evidence import junit


def reference(document: dict[str, Any]) -> bytes:
    """The same junit.xml through ElementTree's element objects and serializer."""
    results = document["results"]
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
    for result in results:
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
        child = junit.CHILD.get(result["status"])
        if child is None:
            continue
        element = ET.SubElement(
            case,
            child,
            message=junit.failure_message(result),
            type=result.get("error_class") or result["status"],
        )
        if child != "skipped":
            element.text = result.get("details") or result["message"]
    totals = junit.counts(results)
    for key in ("tests", "failures", "errors", "skipped"):
        suite.set(key, str(totals[key]))
    suite.set("time", f"{sum(float(r['duration']) for r in results):.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


tricky = st.text(
    alphabet=st.sampled_from(list("ab <>&\"'\n\r\t=é·\U0001f600")), max_size=12
)
result = st.fixed_dictionaries(
    {
        "gate_id": tricky,
        "status": st.sampled_from(
            ["pass", "fail", "error", "not_run", "skipped", "waived", "inconclusive"]
        ),
        "error_class": st.none() | tricky,
        "severity": tricky,
        "required": st.booleans(),
        "nodeid": st.none() | tricky,
        "host": tricky,
        "message": tricky,
        "details": tricky,
        "duration": st.floats(min_value=0, max_value=1e4, allow_nan=False),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    results=st.lists(result, max_size=4),
    scope=tricky,
    suite=tricky,
    interrupted=st.booleans(),
    exit_code=st.integers(0, 3),
)
def test_text_rendering_is_elementtree_byte_for_byte(
    results: list[dict[str, Any]], scope: str, suite: str, interrupted: bool, exit_code: int
) -> None:
    document = {
        "run_id": "20261205T000000Z-0a1b2c3d",
        "scope": scope,
        "suite": suite,
        "env": "prod",
        "started_at": "2026-12-05T00:00:00.000Z",
        "exit_code": exit_code,
        "interrupted": interrupted,
        "results": results,
    }
    assert junit.render(document) == reference(document)
