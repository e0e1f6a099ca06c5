"""allure-results/ written from results.json, for the Allure report (the human view).

Labels: suite as epic, gate id as feature, severity; the error class is a tag. Each attempt is a
step and each raw blob an attachment, so an auditor sees what the probe saw.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from ..core.fsio import dump_json
from ..core.timeutil import epoch_ms

_STATUS = {
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


def render(
    document: dict[str, Any], manifest: dict[str, Any]
) -> tuple[dict[str, bytes], dict[str, str]]:
    """The allure-results files (name -> bytes) and attachments (name -> blob sha256, to link:
    an attachment is the blob itself, not a second copy of its bytes)."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for result in document["results"]:
        case_id = str(uuid.uuid5(_NAMESPACE, f"{document['run_id']}/{result['gate_id']}"))
        history = hashlib.sha256(f"{document['suite']}/{result['gate_id']}".encode()).hexdigest()
        message = result["message"]
        if result.get("error_class"):
            message = f"[{result['error_class']}] {message}"
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
        parameters = [
            {"name": k, "value": json.dumps(v, sort_keys=True)}
            for k, v in sorted(result.get("measurements", {}).items())
        ]
        record = {
            "uuid": case_id,
            "historyId": history,
            "testCaseId": history,
            "name": result["gate_id"],
            "fullName": f"{document['suite']}.{result['gate_id']}",
            "status": _STATUS[result["status"]],
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
    categories = [
        {"name": "Gate failed", "matchedStatuses": ["failed"]},
        {"name": "Gate could not look (error / not run)", "matchedStatuses": ["broken"]},
        {"name": "Inconclusive", "matchedStatuses": ["unknown"]},
    ]
    files["categories.json"] = dump_json(categories)
    return files, links
