"""allure-results/ written from results.json, for the Allure report (the human view).

Labels: suite as epic, gate id as feature, severity; the error class is a tag. Each attempt is a
step and each raw blob an attachment, so an auditor sees what the probe saw.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from ..core.fsio import dump_json
from ..core.timeutil import epoch_ms

STATUS = {
    "pass": "passed",
    "fail": "failed",
    "error": "broken",
    "not_run": "broken",
    "skipped": "skipped",
    "waived": "skipped",
    "inconclusive": "unknown",
}
_EXT = {
    "application/json": ".json",
    "text/html": ".html",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "application/xml": ".xml",
}
_NAMESPACE = uuid.UUID("6f1f6bf2-6c4e-4b7e-9d1e-7b7b2a7e1a10")


def history_id(suite: str, gate_id: str) -> str:
    """Allure's history and test-case id of a gate: the same in every run of the suite."""
    return hashlib.sha256(f"{suite}/{gate_id}".encode()).hexdigest()


def _properties(pairs: dict[str, str]) -> bytes:
    def escape(value: str) -> str:
        return (
            value.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")
        )

    return "".join(f"{escape(k)}={escape(v)}\n" for k, v in pairs.items()).encode()


def environment(manifest: dict[str, Any]) -> dict[str, str]:
    git = manifest.get("git", {})
    pairs = {
        "run_id": manifest["run_id"],
        "scope": manifest["scope"],
        "suite": manifest["suite"],
        "env": manifest["env"],
        "host": manifest["host"],
        "started_at": manifest["started_at"],
        "finished_at": manifest["finished_at"],
    }
    if git.get("available"):
        pairs["git.branch"] = str(git.get("branch"))
        pairs["git.sha"] = git["sha"]
        pairs["git.dirty"] = str(git["dirty"]).lower()
    for name, version in sorted(manifest.get("tools", {}).items()):
        pairs[f"tool.{name}"] = str(version)
    return pairs


def case_uuid(run_id: str, gate_id: str) -> str:
    """The Allure result's uuid of a gate in a run (its file is ``<uuid>-result.json``)."""
    return str(uuid.uuid5(_NAMESPACE, f"{run_id}/{gate_id}"))


def shown_message(result: dict[str, Any]) -> str:
    """The message as Allure shows it: the error class first, so categories can match it."""
    message = str(result["message"])
    return f"[{result['error_class']}] {message}" if result.get("error_class") else message


def case_title(result: dict[str, Any]) -> str:
    """What the report's list shows: the gate, its severity and, when it has one, its class."""
    title = f"{result['gate_id']} · {result['severity']}"
    return title + (f" · {result['error_class']}" if result.get("error_class") else "")


def categories(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One Allure category per error class of the run (the class leads the message), then the
    catch-alls by status."""
    found = sorted({str(r["error_class"]) for r in results if r.get("error_class")})
    by_class = [
        {"name": f"error class: {klass}", "messageRegex": f"^\\[{re.escape(klass)}\\].*"}
        for klass in found
    ]
    return [
        *by_class,
        {"name": "Gate failed", "matchedStatuses": ["failed"]},
        {"name": "Gate could not look (error / not run)", "matchedStatuses": ["broken"]},
        {"name": "Inconclusive", "matchedStatuses": ["unknown"]},
    ]


def render(
    document: dict[str, Any], manifest: dict[str, Any]
) -> tuple[dict[str, bytes], dict[str, str]]:
    """The allure-results files (name -> bytes) and attachments (name -> blob sha256, to link:
    an attachment is the blob itself, not a second copy of its bytes)."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for result in document["results"]:
        case_id = case_uuid(document["run_id"], result["gate_id"])
        history = history_id(document["suite"], result["gate_id"])
        message = shown_message(result)
        attachments = []
        for blob in result.get("blobs", []):
            source = f"{case_id}-{blob['sha256'][:16]}-attachment{_EXT.get(blob['media_type'], '')}"
            links[source] = blob["sha256"]
            attachments.append({"name": blob["name"], "source": source, "type": blob["media_type"]})
        labels = [
            {"name": "epic", "value": document["suite"]},
            {"name": "feature", "value": result["gate_id"]},
            {"name": "severity", "value": result["severity"]},
            {"name": "suite", "value": document["suite"]},
            {"name": "host", "value": result.get("host") or manifest["host"]},
            {"name": "framework", "value": "pytest-ipai"},
        ]
        if result.get("error_class"):
            labels.append({"name": "tag", "value": result["error_class"]})
        steps = [
            {
                "name": f"attempt {n}: {a['outcome']}"
                + (f" ({a['detail']})" if a["detail"] else ""),
                "status": "passed" if a["outcome"] in ("ok", "pass") else "failed",
                "stage": "finished",
                "start": epoch_ms(a["at"]),
                "stop": (epoch_ms(a["at"]) or 0) + int(float(a["duration"]) * 1000),
            }
            for n, a in enumerate(result.get("attempts", []), start=1)
        ]
        # Measurements change from run to run: excluded from the history id, so the trend
        # follows the gate, not its numbers.
        parameters = [
            {"name": k, "value": json.dumps(v, sort_keys=True), "excluded": True}
            for k, v in sorted(result.get("measurements", {}).items())
        ]
        title = case_title(result)
        record = {
            "uuid": case_id,
            "historyId": history,
            "testCaseId": history,
            "name": title,
            "fullName": f"{document['suite']}.{result['gate_id']}",
            "status": STATUS[result["status"]],
            "statusDetails": {"message": message, "trace": result.get("details", "")},
            "stage": "finished",
            "start": epoch_ms(result.get("started_at")) or epoch_ms(document["started_at"]),
            "stop": epoch_ms(result.get("finished_at")) or epoch_ms(document["finished_at"]),
            "labels": labels,
            "parameters": parameters,
            "steps": steps,
            "attachments": attachments,
            "description": f"status: {result['status']}; required: {result['required']}",
        }
        files[f"{case_id}-result.json"] = json.dumps(record).encode()
    files["environment.properties"] = _properties(environment(manifest))
    executor = {
        "name": "pytest-ipai",
        "type": "pytest-ipai",
        "buildName": f"{manifest['scope']} {manifest['run_id']}",
        "buildOrder": manifest["started_at"],
        "reportName": f"pytest-ipai {manifest['scope']} ({manifest['env']})",
    }
    files["executor.json"] = dump_json(executor)
    files["categories.json"] = dump_json(categories(document["results"]))
    return files, links
