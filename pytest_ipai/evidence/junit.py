"""junit.xml for CI user interfaces, rendered from results.json (not from pytest's own report,
so not_run gates and crashed workers appear, and every line has been redacted already)."""

from __future__ import annotations

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
    """The XML that ElementTree writes for this tree, indented by two spaces, with its
    declaration: built as text, since a pack of a thousand gates spent most of its rendering
    in ElementTree's element objects and serializer (tests hold the two equal)."""
    results: list[dict[str, Any]] = document["results"]
    totals = counts(results)
    total_time = sum(float(r["duration"]) for r in results)
    hostname = results[0]["host"] if results else ""
    lines = [
        "<?xml version='1.0' encoding='utf-8'?>",
        f"<testsuites name={_attr('pytest-ipai ' + str(document['scope']))}>",
        f"  <testsuite name={_attr(document['suite'])} timestamp={_attr(document['started_at'])}"
        f' hostname={_attr(hostname)} tests="{totals["tests"]}"'
        f' failures="{totals["failures"]}" errors="{totals["errors"]}"'
        f' skipped="{totals["skipped"]}" time="{total_time:.3f}">',
        "    <properties>",
    ]
    for key in ("run_id", "scope", "env", "exit_code", "interrupted"):
        lines.append(f'      <property name="{key}" value={_attr(document[key])} />')
    lines.append("    </properties>")
    classname = _attr(document["suite"])
    for result in results:
        lines.append(
            f"    <testcase classname={classname} name={_attr(result['gate_id'])}"
            f' time="{float(result["duration"]):.3f}">'
        )
        lines.append("      <properties>")
        for key in ("status", "error_class", "severity", "required", "nodeid"):
            if result.get(key) is not None:
                lines.append(f'        <property name="{key}" value={_attr(result[key])} />')
        lines.append("      </properties>")
        child = CHILD.get(result["status"])
        if child is not None:
            head = (
                f"      <{child} message={_attr(failure_message(result))}"
                f" type={_attr(result.get('error_class') or result['status'])}"
            )
            text = None if child == "skipped" else (result.get("details") or result["message"])
            lines.append(f"{head}>{_text(text)}</{child}>" if text else f"{head} />")
        lines.append("    </testcase>")
    lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return ("\n".join(lines) + "\n").encode("utf-8", "xmlcharrefreplace")


def _text(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: Any) -> str:
    """A quoted attribute value, escaped as ElementTree escapes it."""
    text = (
        _text(value)
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
        .replace("\n", "&#10;")
        .replace("\t", "&#09;")
    )
    return f'"{text}"'
