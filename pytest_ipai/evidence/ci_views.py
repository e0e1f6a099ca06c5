"""A pack's results where reviewers look: GitHub Actions annotations and job summary, SARIF
2.1.0 for code-scanning pages, and GitLab's Code Quality report.

Pure functions of a published pack (results.json and manifest.json): every text in them was
redacted when it entered the pack, and nothing here adds a link. Findings a gate located in the
stack repository (the ``locations`` measurement) become file:line results; a gate that failed
without a location is reported against the stack config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# GitHub shows at most 10 error and 10 warning annotations per step; more are dropped by it.
GITHUB_ANNOTATIONS_PER_LEVEL = 10
SUMMARY_MESSAGE_CHARS = 300
_NOT_OK = ("fail", "error", "inconclusive", "not_run")


@dataclass(frozen=True)
class Finding:
    gate_id: str
    error_class: str
    severity: str
    level: str  # error (fails the suite) or warning
    file: str
    line: int
    text: str


@dataclass(frozen=True)
class PackView:
    suite: str
    scope: str
    env: str
    exit_code: int
    commit: str
    config_file: str
    results: list[dict[str, Any]]

    @classmethod
    def load(cls, pack: Path) -> PackView:
        results = json.loads((pack / "results.json").read_text(encoding="utf-8"))
        manifest = json.loads((pack / "manifest.json").read_text(encoding="utf-8"))
        git = manifest.get("git") or {}
        repo = str(git.get("path") or "")
        config = str(manifest.get("config_file") or "ipai.toml")
        if repo and config.startswith(repo.rstrip("/") + "/"):
            config = config[len(repo.rstrip("/")) + 1 :]
        return cls(
            suite=results["suite"],
            scope=results["scope"],
            env=str(results.get("env") or ""),
            exit_code=int(results["exit_code"]),
            commit=str(git.get("sha") or ""),
            config_file=config,
            results=list(results["results"]),
        )

    @property
    def verdict(self) -> str:
        return "passed" if self.exit_code == 0 else "failed"

    def not_ok(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] in _NOT_OK]

    def findings(self) -> Iterator[Finding]:
        for result in self.not_ok():
            level = "error" if result.get("required", True) else "warning"
            located = (result.get("measurements") or {}).get("locations") or []
            for item in located:
                yield Finding(
                    result["gate_id"], item["class"], result["severity"], level,
                    item["file"], int(item["line"]), item["text"],
                )  # fmt: skip
            if not located:
                yield Finding(
                    result["gate_id"], result.get("error_class") or result["status"],
                    result["severity"], level, self.config_file, 1,
                    result.get("message") or result["status"],
                )  # fmt: skip


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(view: PackView) -> list[str]:
    """Workflow commands, at most GITHUB_ANNOTATIONS_PER_LEVEL per level, then one notice
    saying how many more the pack holds."""
    lines: list[str] = []
    counts = {"error": 0, "warning": 0}
    dropped = 0
    for finding in view.findings():
        if counts[finding.level] >= GITHUB_ANNOTATIONS_PER_LEVEL:
            dropped += 1
            continue
        counts[finding.level] += 1
        title = _escape_property(f"{finding.gate_id}: {finding.error_class}")
        where = f"file={_escape_property(finding.file)},line={finding.line}"
        lines.append(f"::{finding.level} {where},title={title}::{_escape_data(finding.text)}")
    if dropped:
        lines.append(f"::notice title=ipai::{dropped} more finding(s) are in the evidence pack")
    return lines


def _cell(text: str, limit: int = SUMMARY_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.replace("|", "\\|").replace("<", "&lt;")


def step_summary(view: PackView) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: the verdict first, then what did not pass."""
    counts: dict[str, int] = {}
    for result in view.results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    icon = "✅" if view.exit_code == 0 else "❌"
    lines = [
        f"## {icon} ipai {view.scope}: {view.verdict.upper()} (exit code {view.exit_code})",
        "",
        f"Suite `{view.suite}`, environment `{view.env or '-'}`, commit `{view.commit or '-'}`.",
        "",
        ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
        "",
    ]
    failing = view.not_ok()
    if failing:
        lines += [
            "| gate | severity | status | error class | message |",
            "|---|---|---|---|---|",
        ]
        order = {"critical": 0, "normal": 1, "minor": 2}
        for result in sorted(failing, key=lambda r: (order.get(r["severity"], 3), r["gate_id"])):
            lines.append(
                f"| `{result['gate_id']}` | {result['severity']} | {result['status']} | "
                f"{result.get('error_class') or '-'} | {_cell(result.get('message') or '')} |"
            )
    return "\n".join(lines) + "\n"


def sarif(view: PackView, version: str) -> dict[str, Any]:
    """One SARIF run: a rule per gate and error class, a result per finding."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for finding in view.findings():
        rule_id = f"{finding.gate_id}/{finding.error_class}"
        if rule_id not in index:
            index[rule_id] = len(rules)
            rules.append(
                {
                    "id": rule_id,
                    "name": finding.error_class,
                    "shortDescription": {"text": f"{finding.gate_id}: {finding.error_class}"},
                    "defaultConfiguration": {"level": finding.level},
                    "properties": {"severity": finding.severity, "gate": finding.gate_id},
                }
            )
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": index[rule_id],
                "level": finding.level,
                "message": {"text": finding.text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": finding.file, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": max(1, finding.line)},
                        }
                    }
                ],
                "partialFingerprints": {"ipaiFinding/v1": _fingerprint(finding)},
            }
        )
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "pytest-ipai", "version": version, "rules": rules}},
        "automationDetails": {"id": f"ipai/{view.scope}/"},
        "results": results,
    }
    if view.commit:
        run["properties"] = {"commit": view.commit, "exitCode": view.exit_code}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


_QUALITY_SEVERITY = {"critical": "critical", "normal": "major", "minor": "minor"}


def gitlab_code_quality(view: PackView) -> list[dict[str, Any]]:
    return [
        {
            "description": f"{finding.gate_id}: {finding.text}",
            "check_name": f"{finding.gate_id}/{finding.error_class}",
            "fingerprint": _fingerprint(finding),
            "severity": _QUALITY_SEVERITY.get(finding.severity, "major"),
            "location": {"path": finding.file, "lines": {"begin": max(1, finding.line)}},
        }
        for finding in view.findings()
    ]


def _fingerprint(finding: Finding) -> str:
    key = "\0".join((finding.gate_id, finding.error_class, finding.file, finding.text))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
