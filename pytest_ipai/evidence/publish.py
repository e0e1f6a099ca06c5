"""Finish a run: fill in gates that never ran, decide the exit code, publish the pack. Also
recovers runs whose process died (the staging folder outlived its owner)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config.policy import GatePolicy
from ..core.errors import EXIT_USAGE
from ..core.proc import pid_alive
from ..core.redact import Redactor
from ..core.results import ERROR, NOT_RUN, GateResult, suite_exit_code
from ..core.timeutil import iso, utc_now
from .journal import read_entries
from .pack import STAGING, Staging, host_name


def expected_entry(gate: GatePolicy) -> dict[str, Any]:
    """What the journal and the recovery need to know of an expected gate."""
    return {
        "gate_id": gate.gate_id,
        "suite": gate.suite,
        "severity": gate.severity,
        "required": gate.required,
    }


STOPPED_EARLY = "stopped_early"  # not run because a trigger had already decided


def _not_run(entry: dict[str, Any], message: str, error_class: str | None = None) -> GateResult:
    return GateResult(
        gate_id=entry["gate_id"],
        suite=entry["suite"],
        status=NOT_RUN,
        severity=entry["severity"],
        required=entry["required"],
        error_class=error_class,
        message=message,
        host=host_name(),
    )


def publish_run(
    staging: Staging,
    *,
    manifest: dict[str, Any],
    results: list[GateResult],
    expected: Sequence[GatePolicy | dict[str, Any]],
    interrupted: bool = False,
    tool_failure: bool = False,
    decide: Callable[[list[GateResult]], dict[str, Any]] | None = None,
    decision: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    exit_code: int | None = None,
    not_run_reason: str | None = None,
) -> tuple[Path, int]:
    """Journal a ``not_run`` result for each expected gate without one, then publish."""
    entries = [
        e
        if isinstance(e, dict)
        else {
            "gate_id": e.gate_id,
            "suite": e.suite,
            "severity": e.severity,
            "required": e.required,
        }
        for e in expected
    ]
    have = {r.gate_id for r in results}
    why = not_run_reason or (
        "the run was interrupted before this gate ran"
        if interrupted
        else ("this gate of the suite's policy was not collected or was deselected")
    )
    for entry in entries:
        if entry["gate_id"] not in have:
            missing = _not_run(entry, why, STOPPED_EARLY if not_run_reason else None)
            staging.record(missing)
            results.append(missing)
    code = EXIT_USAGE if tool_failure else suite_exit_code(results)
    if exit_code is not None:
        code = exit_code  # the caller's verdict (a deploy's), not the steps' own
    final: dict[str, Any] = {**manifest, "finished_at": iso(utc_now()), "interrupted": interrupted}
    if decide is not None:
        decision = decide(results)
    if decision is not None and decision.get("verdict") == "rollback" and code == 0:
        code = 1  # a rollback decided is never a success, whatever the gates said
    pack = staging.publish(
        manifest=final,
        results=results,
        expected=[str(entry["gate_id"]) for entry in entries],
        exit_code=code,
        decision=decision,
        extra=extra,
    )
    return pack, code


def recover_orphans(root: Path) -> list[Path]:
    """Publish every staged run on this host whose process is gone, as an interrupted pack."""
    folder = root / STAGING
    if not folder.is_dir():
        return []
    published = []
    for path in sorted(folder.iterdir()):
        staging = Staging(root, path.name, create=False)
        try:
            session = staging.session()
        except (OSError, ValueError):
            continue  # not started far enough to be worth a pack; left for an operator
        manifest = session["manifest"]
        if manifest["host"] != host_name() or pid_alive(int(session["pid"])):
            continue
        if session["pid"] == os.getpid():
            continue
        published.append(recover(staging, session))
    return published


def recover(staging: Staging, session: dict[str, Any]) -> Path:
    redactor = Redactor()
    results: list[GateResult] = []
    journal = staging.path / "journal.jsonl"
    if journal.exists():
        for entry in read_entries(journal):
            if entry.get("kind") == "result":
                results.append(GateResult.from_dict(entry["result"]))
    inflight = staging.inflight()
    done = {r.gate_id for r in results}
    if inflight is not None and inflight["meta"]["gate_id"] not in done:
        meta = inflight["meta"]
        crashed = GateResult(
            gate_id=meta["gate_id"],
            suite=meta["suite"],
            status=ERROR,
            severity=meta["severity"],
            required=meta["required"],
            error_class="process_died",
            message=redactor.text(
                "the pytest process died while this gate ran"
                + (f" (its timeout was {meta['timeout']:g}s)" if meta.get("timeout") else "")
            ),
            nodeid=meta["nodeid"],
            started_at=inflight["started_at"],
            host=host_name(),
        )
        staging.record(crashed)
        results.append(crashed)
    pack, _code = publish_run(
        staging,
        manifest=session["manifest"],
        results=results,
        expected=session["expected"],
        interrupted=True,
    )
    return pack
