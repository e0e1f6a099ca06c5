"""Finish a run: fill in gates that never ran, decide the exit code, publish the pack. Also
recovers runs whose process died (the staging folder outlived its owner)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.policy import GatePolicy
from ..config.stack import StackConfig
from ..core.errors import EXIT_GATE_FAILED, EXIT_USAGE
from ..core.proc import pid_alive
from ..core.redact import Redactor
from ..core.results import ERROR, NOT_RUN, GateResult, suite_exit_code
from ..core.timeutil import iso, utc_now
from .journal import read_entries
from .pack import STAGING, Staging, host_name

if TYPE_CHECKING:
    from .attest import PackSigner

POLICY_SCHEMA = "ipai/policy-snapshot/1"
CONFIG_SCHEMA = "ipai/config-snapshot/1"


def expected_entry(gate: GatePolicy) -> dict[str, Any]:
    """What the journal and the recovery need to know of an expected gate."""
    return {
        "gate_id": gate.gate_id,
        "suite": gate.suite,
        "severity": gate.severity,
        "required": gate.required,
    }


STOPPED_EARLY = "stopped_early"  # not run because a trigger had already decided


def _synthetic(
    entry: dict[str, Any], status: str, message: str, error_class: str | None, **more: Any
) -> GateResult:
    """A result the run did not get from its check (never run, or the process died in it)."""
    return GateResult(
        gate_id=entry["gate_id"],
        suite=entry["suite"],
        status=status,
        severity=entry["severity"],
        required=entry["required"],
        error_class=error_class,
        message=message,
        host=host_name(),
        **more,
    )


def _not_run(entry: dict[str, Any], message: str, error_class: str | None = None) -> GateResult:
    return _synthetic(entry, NOT_RUN, message, error_class)


def policy_snapshot(
    expected: Sequence[GatePolicy | dict[str, Any]],
    sources: Sequence[str] = (),
    redact: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """policy.json: the gates the run was held to, as the run saw them (params redacted)."""
    gates = []
    for gate in expected:
        if isinstance(gate, dict):
            gates.append(dict(gate))
            continue
        gates.append(
            {
                **expected_entry(gate),
                "title": gate.title,
                "timeout": gate.timeout,
                "params": redact(gate.params) if redact else gate.params,
            }
        )
    return {"schema": POLICY_SCHEMA, "sources": list(sources), "gates": gates}


def config_snapshot(config: StackConfig, redact: Callable[[Any], Any]) -> dict[str, Any]:
    """config.json: the stack config the run read, redacted (it names secrets, never holds
    them; redaction is the second lock)."""
    return {
        "schema": CONFIG_SCHEMA,
        "file": str(config.file),
        "env": config.env.name,
        "config": redact(config.raw),
    }


def derived_exit_code(results: list[GateResult], decision: dict[str, Any] | None) -> int:
    """The exit code a finished suite's results give: a rollback decided is never a success."""
    code = suite_exit_code(results)
    if decision is not None and decision.get("verdict") == "rollback" and code == 0:
        code = 1
    return code


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
    policy: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    signer: PackSigner | None = None,
    died: bool = False,
) -> tuple[Path, int]:
    """Journal a ``not_run`` result for each expected gate without one, then the finish entry
    (the exit code and why, and every document of the pack but results.json), then publish."""
    policy = policy or policy_snapshot(expected)
    entries = policy["gates"]
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
    if decide is not None:
        decision = decide(results)
    if died:
        reason, code = "died", exit_code or EXIT_GATE_FAILED  # a run that died did not succeed
    elif tool_failure:
        reason, code = "tool_failure", EXIT_USAGE
    elif exit_code is not None:
        reason, code = "caller", exit_code  # the caller's verdict (a deploy's), not the steps'
    else:
        reason, code = "suite", derived_exit_code(results, decision)
    final: dict[str, Any] = {**manifest, "finished_at": iso(utc_now()), "interrupted": interrupted}
    documents: dict[str, Any] = {"manifest.json": final, "policy.json": policy}
    if config is not None:
        documents["config.json"] = config
    if decision is not None:
        documents["decision.json"] = decision
    documents.update(extra or {})  # e.g. deploy_result.json of a deploy pack
    finish = {
        "exit_code": code,
        "exit_reason": reason,
        "interrupted": interrupted,
        "finished_at": final["finished_at"],
        "documents": documents,
    }
    staging.journal.append("finish", finish)
    pack = staging.publish(results=results, finish=finish, signer=signer)
    return pack, code


def recover_orphans(root: Path, signer: PackSigner | None = None) -> list[Path]:
    """Publish every staged run on this host whose process is gone. A staging folder is any
    folder under .staging/ holding a journal, whatever its name; anything else is left alone
    with a warning (``warnings``)."""
    published, _warnings = recover_all(root, signer)
    return published


def recover_all(root: Path, signer: PackSigner | None = None) -> tuple[list[Path], list[str]]:
    folder = root / STAGING
    if not folder.is_dir():
        return [], []
    published: list[Path] = []
    warnings: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.is_symlink() or not path.is_dir() or not (path / "journal.jsonl").is_file():
            warnings.append(f"{path}: not a staged run (no journal); left alone")
            continue
        staging = Staging(root, path.name, create=False, check=False)
        if not (path / "session.json").is_file():
            if (path / "SHA256SUMS").is_file() and (path / "manifest.json").is_file():
                published.append(staging.finish_publication())  # written, never renamed
            else:
                warnings.append(f"{path}: a journal without its session record; left alone")
            continue
        try:
            session = staging.session()
            manifest = session["manifest"]
            owner_alive = manifest["host"] == host_name() and pid_alive(int(session["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            warnings.append(f"{path}: unreadable session record; left alone")
            continue
        if manifest["host"] != host_name() or owner_alive or session["pid"] == os.getpid():
            continue
        published.append(recover(staging, session, signer=signer))
    return published, warnings


def recover(
    staging: Staging,
    session: dict[str, Any],
    *,
    exit_code: int | None = None,
    signer: PackSigner | None = None,
) -> Path:
    """Publish a staged run. One whose journal has its finish entry (the publication failed,
    say on a full disk) is published as it would have been; one that died is an interrupted
    pack whose exit code is never 0 (``exit_code`` is the dead run's, when known)."""
    journal = staging.path / "journal.jsonl"
    entries = list(read_entries(journal)) if journal.exists() else []
    results = [GateResult.from_dict(e["result"]) for e in entries if e.get("kind") == "result"]
    policy = session.get("policy") or policy_snapshot(session["expected"])
    finish = next((e for e in entries if e.get("kind") == "finish"), None)
    if finish is not None:
        return staging.publish(results=results, finish=finish, signer=signer)
    inflight = staging.inflight()
    done = {r.gate_id for r in results}
    if inflight is not None and inflight["meta"]["gate_id"] not in done:
        crashed = _crashed(inflight)
        staging.record(crashed)
        results.append(crashed)
    pack, _code = publish_run(
        staging,
        manifest=session["manifest"],
        results=results,
        expected=policy["gates"],
        interrupted=True,
        exit_code=exit_code,
        policy=policy,
        config=session.get("config"),
        signer=signer,
        died=True,
    )
    return pack


def _crashed(inflight: dict[str, Any]) -> GateResult:
    meta = inflight["meta"]
    timeout = f" (its timeout was {meta['timeout']:g}s)" if meta.get("timeout") else ""
    message = Redactor().text(f"the pytest process died while this gate ran{timeout}")
    return _synthetic(
        meta,
        ERROR,
        message,
        "process_died",
        nodeid=meta["nodeid"],
        started_at=inflight["started_at"],
    )
