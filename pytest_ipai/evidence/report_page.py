"""What the report adds to Allure's page: a first screen that leads with the verdict, and the
history of the environment's earlier packs (from the ledger) for Allure's trend.

The verdict block is plain HTML with inline styles, placed first in the page's body: it shows
before Allure's app has drawn anything, and works with scripts off. Everything in it comes
from the verified pack and is escaped."""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any

from ..core.timeutil import epoch_ms
from .allure import STATUS, case_title, case_uuid, history_id, shown_message
from .ledger import read_ledger

HISTORY_LIMIT = 20
NOT_PASSED = ("fail", "error", "not_run", "inconclusive")
_COLOURS = {"PASS": "#1b7f3b", "PROMOTE": "#1b7f3b", "HOLD": "#9a6700"}


def verdict_word(results: dict[str, Any], decision: dict[str, Any] | None) -> str:
    """PROMOTE / ROLLBACK / HOLD when a decision was made; else PASS, BLOCKED (a gate failed:
    exit 1) or ERROR (the run could not judge: exit 2)."""
    if decision is not None and decision.get("verdict"):
        return str(decision["verdict"]).upper()
    return {0: "PASS", 1: "BLOCKED"}.get(int(results["exit_code"]), "ERROR")


def banner(pack: Path, signature: str) -> str:
    results = json.loads((pack / "results.json").read_text("utf-8"))
    manifest = json.loads((pack / "manifest.json").read_text("utf-8"))
    decision = None
    if (pack / "decision.json").is_file():
        decision = json.loads((pack / "decision.json").read_text("utf-8"))
    word = verdict_word(results, decision)
    colour = _COLOURS.get(word, "#b42318")
    git = manifest.get("git") or {}
    commit = git.get("sha") if git.get("available") else f"unknown ({git.get('reason', 'no git')})"
    e = html.escape
    facts = [
        ("suite", results["suite"]),
        ("environment", results["env"]),
        ("commit", f"{commit}" + (f" ({git['branch']})" if git.get("branch") else "")),
        ("run", f"{results['run_id']} on {manifest.get('host', '?')}, {results['started_at']}"),
        ("signature", signature),
    ]
    if decision is not None:
        facts.append(("decision", f"{decision.get('rule')}: {decision.get('reason', '')}"))
    if results.get("interrupted"):
        facts.append(("interrupted", "yes: the run did not finish on its own"))
    rows = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{e(k)}</th>'
        f'<td data-ipai="{e(k)}" style="font-family:monospace">{e(str(v))}</td></tr>'
        for k, v in facts
    )
    failing = [r for r in results["results"] if r["status"] in NOT_PASSED]
    if failing:
        cell = 'style="padding:3px 10px 3px 0;vertical-align:top;text-align:left"'
        gates = "".join(
            f'<tr data-ipai-gate="{e(r["gate_id"])}"><td {cell}>{e(r["gate_id"])}</td>'
            f"<td {cell}>{e(r['severity'])}</td><td {cell}>{e(r['status'])}</td>"
            f"<td {cell}>{e(r.get('error_class') or '-')}</td><td {cell}>{e(r['message'])}</td>"
            "</tr>"
            for r in failing
        )
        heads = "".join(
            f"<th {cell}>{h}</th>" for h in ("gate", "severity", "status", "error class", "message")
        )
        listing = (
            f'<h2 style="font-size:1.1em;margin:12px 0 4px 0">Gates that did not pass: '
            f"{len(failing)} of {len(results['results'])}</h2>"
            f'<table style="border-collapse:collapse"><tr>{heads}</tr>{gates}</table>'
        )
    else:
        listing = "<p>Every gate passed.</p>"
    # The gates above are the quality gates: Allure's own tab of that name stays empty here.
    hide = '<style>[data-testid="nav-tab-qualityGate"]{display:none}</style>'
    return (
        hide + '<header id="ipai-verdict" style="font-family:sans-serif;padding:16px 24px;'
        f'border-left:12px solid {colour};background:#fff;color:#111">'
        f'<h1 style="margin:0 0 8px 0;color:{colour}">'
        f'<span data-ipai="verdict">{e(word)}</span> · exit code '
        f'<span data-ipai="exit_code">{results["exit_code"]}</span></h1>'
        f"<table>{rows}</table>{listing}</header>"
    )


def with_banner(page: str, block: str) -> str:
    body = re.search(r"<body\b[^>]*>", page, re.I)
    if body is None:
        return block + page
    return page[: body.end()] + block + page[body.end() :]


def history_points(pack: Path, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """Allure history data points for the packs of the same scope noted before this one in the
    evidence root's ledger (oldest first), so the report draws the trend."""
    root = pack.parent.parent
    mine = pack.relative_to(root).as_posix()
    scope = json.loads((pack / "results.json").read_text("utf-8"))["scope"]
    earlier: list[Path] = []
    for entry in read_ledger(root):
        if entry.get("pack") == mine:
            break
        if entry.get("scope") == scope and entry.get("kind") != "signed":
            earlier.append(root / str(entry.get("pack")))
    points = []
    for older in earlier[-limit:]:
        try:
            points.append(_point(json.loads((older / "results.json").read_text("utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a pack removed or unreadable: verify --ledger names it
    return points


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _point(results: dict[str, Any]) -> dict[str, Any]:
    """One run as Allure 3 records it in its history file (its ids are md5 of ours)."""
    items = {}
    known = []
    for result in results["results"]:
        case = _md5(history_id(results["suite"], result["gate_id"]))
        known.append(case)
        key = f"{case}.{_md5('')}"  # no parameter counts towards the history id
        start = epoch_ms(result.get("started_at")) or epoch_ms(results["started_at"]) or 0
        duration = int(float(result.get("duration") or 0) * 1000)
        items[key] = {
            "id": _md5(case_uuid(results["run_id"], result["gate_id"])),
            "name": case_title(result),
            "fullName": f"{results['suite']}.{result['gate_id']}",
            "environment": "default",
            "status": STATUS[result["status"]],
            "message": shown_message(result),
            "trace": "",
            "start": start,
            "stop": start + duration,
            "duration": duration,
            "labels": [],
            "url": "",
            "historyId": key,
            "reportLinks": [],
        }
    return {
        "uuid": results["run_id"],
        "name": f"{results['scope']} {results['run_id']}",
        "timestamp": epoch_ms(results["started_at"]),
        "knownTestCaseIds": known,
        "testResults": items,
        "metrics": {},
        "url": "",
    }
