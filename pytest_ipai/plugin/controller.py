"""The controller: turns test reports into gate results, journals them and publishes the pack.

The plugin has two halves, so results survive pytest-xdist worker crashes and pytest-timeout
kills:

* the *item side* (collection.py) runs where checks run (the only process without xdist, or
  each worker). It classifies each phase and attaches gate metadata plus what the check
  recorded to the report's ``user_properties``, which xdist carries to the controller;
* the *controller* (never a worker) caches that metadata per node id as soon as the setup report
  arrives, so a later crash report (which carries nothing) is still an ``error`` for the right
  gate. It alone writes files: each result is journaled (fsynced) as it arrives, and the pack is
  published at the end of the session. Without xdist it also marks the gate in flight, so a
  run killed mid-check is recovered into a pack by the next run or ``ipai evidence recover``.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..config.policy import GatePolicy
from ..core.errors import EXIT_USAGE, IpaiError, NoSpaceError, out_of_space
from ..core.redact import Redactor
from ..core.results import ERROR, FAIL, PASS, SKIPPED, WAIVED, Attempt, BlobRef, GateResult
from ..core.timeutil import iso, now_iso, utc_now
from ..evidence.manifest import start_manifest
from ..evidence.pack import Staging, host_name
from ..evidence.publish import (
    config_snapshot,
    expected_entry,
    policy_snapshot,
    publish_run,
    recover_orphans,
)
from .progress import Progress
from .state import MAX_DETAILS, IpaiState, gate_payload, meta_key

if TYPE_CHECKING:  # imported when a run decides (most runs never do)
    from ..decision.decide import Decision

PREFETCH_JOIN = 30.0  # seconds the run's end waits for the shared work still running


@dataclass
class _Pending:
    meta: dict[str, Any]
    started: float
    started_at: str
    phases: list[dict[str, Any]] = field(default_factory=list)
    worker: str | None = None


class Controller:
    """Turns reports into results; journals them; publishes the pack. Never runs on a worker."""

    def __init__(self, config: pytest.Config, state: IpaiState) -> None:
        self.pyconfig = config
        self.state = state
        self.redactor = Redactor(state.config.secret_values())
        self.pending: dict[str, _Pending] = {}
        self.starts: dict[str, tuple[float, str]] = {}
        self.results: dict[str, GateResult] = {}
        self.staging: Staging | None = None
        self.manifest: dict[str, Any] | None = None
        self.progress = Progress(config)
        self.collection_failed = False
        self.expected: list[GatePolicy] = state.policy.expected(state.suite) if state.suite else []
        self.session: pytest.Session | None = None
        self.early: Decision | None = None  # a trigger fired before the suite was over
        self.policy: dict[str, Any] | None = None
        self.config_doc: dict[str, Any] | None = None
        self.no_space: str | None = None  # the evidence root filled up mid-run
        self.prefetching: threading.Thread | None = None

    # -- session start ------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        try:
            for path in recover_orphans(self.state.evidence_root, self.state.signer):
                self.progress.note(f"recovered an interrupted run into {path}")
        except IpaiError as exc:
            self.progress.note(f"could not recover interrupted runs: {exc.message}")
        started = utc_now()
        suite = self.state.suite or "adhoc"
        self.manifest = start_manifest(
            run_id=self.state.run_id,
            suite=suite,
            scope=suite if suite == "predeploy" else f"{suite}-{self.state.config.env.name}",
            config=self.state.config,
            started_at=iso(started),
            host=host_name(),
            policy_sources=list(self.state.policy.sources),
        )
        self.manifest = self.redactor.data(self.manifest)
        expected = [expected_entry(g) for g in self.expected]
        self.policy = policy_snapshot(self.expected, self.state.policy.sources, self.redactor.data)
        self.config_doc = config_snapshot(self.state.config, self.redactor.data)
        self.staging = Staging(self.state.evidence_root, self.state.run_id)
        try:
            self.staging.write_session(
                {
                    "manifest": self.manifest,
                    "expected": expected,
                    "policy": self.policy,
                    "config": self.config_doc,
                    "pid": os.getpid(),
                }
            )
            self.staging.journal.append(
                "start", {"run_id": self.state.run_id, "expected": expected}
            )
        except OSError as exc:
            if not out_of_space(exc):
                raise
            self.staging.discard()
            self.staging = None
            pytest.exit(
                f"ipai: {self.state.evidence_root}: no space left to record a run",
                returncode=EXIT_USAGE,
            )
        self.progress.expect(len(self.expected))
        from .shared_work import prefetch

        # With workers starting, the controller's idle core does the work gates share; without,
        # the git work (subprocesses, outside the GIL) runs beside the checks' Python work.
        workers = bool(getattr(self.pyconfig.option, "numprocesses", None))
        self.prefetching = prefetch(
            self.state.memo,
            self.state.config,
            {g.gate_id for g in self.expected},
            only_waiting=not workers,
        )

    def pytest_unconfigure(self) -> None:
        if self.prefetching is not None:
            self.prefetching.join(PREFETCH_JOIN)  # bounded: its git calls have timeouts
        self.state.memo.remove()

    # -- runs in-process only (no xdist): remember which gate is in flight -----------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        meta = item.stash.get(meta_key, None)
        if meta is not None and self.staging is not None:
            self.staging.mark_started({"meta": meta, "started_at": now_iso()})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_failed = True

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.starts[nodeid] = (time.monotonic(), now_iso())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = gate_payload(report)
        nodeid = report.nodeid
        pending = self.pending.get(nodeid)
        if payload is not None and pending is None and "meta" in payload:
            started, started_at = self.starts.pop(nodeid, (time.monotonic(), now_iso()))
            pending = _Pending(meta=payload["meta"], started=started, started_at=started_at)
            self.pending[nodeid] = pending
        if pending is None:
            return  # not a gate
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        pending.worker = getattr(gateway, "id", pending.worker)
        if payload is None:
            # xdist's report for an item whose worker died: nothing travelled with it.
            elapsed = time.monotonic() - pending.started
            timeout = pending.meta.get("timeout")
            if timeout and elapsed >= 0.9 * float(timeout):
                klass, msg = "timeout", f"killed after {elapsed:.1f}s (timeout {timeout:g}s)"
            else:
                klass, msg = (
                    "worker_crashed",
                    f"the process running the check died after {elapsed:.1f}s",
                )
            detail = str(report.longrepr)[-MAX_DETAILS:]
            pending.phases.append(
                {
                    "phase": "crash",
                    "status": ERROR,
                    "error_class": klass,
                    "message": msg,
                    "details": detail,
                }
            )
            self._finish(nodeid, pending)
            return
        pending.phases.append(payload)
        if payload["phase"] == "teardown":
            self._finish(nodeid, pending)

    def _finish(self, nodeid: str, pending: _Pending) -> None:
        del self.pending[nodeid]
        if self.no_space is not None:
            return  # nothing more can be journaled; the session is stopping
        try:
            result = self._result(pending)
            if result.gate_id in self.results:
                return  # a rerun of the same gate (xdist replay): the first verdict stands
            assert self.staging is not None
            self.staging.record(result)
        except OSError as exc:
            if not out_of_space(exc):
                raise
            self._stop_for_space()
            return
        self.results[result.gate_id] = result
        self.progress.gate_done(result)
        self._decide_early()

    def _stop_for_space(self) -> None:
        """The evidence root is full: stop the suite (what is journaled stays recoverable)."""
        assert self.staging is not None
        self.no_space = (
            f"{self.state.evidence_root}: no space left to journal run {self.state.run_id}; "
            f"what it recorded is kept in {self.staging.path} and `ipai evidence recover` "
            "publishes it once there is space"
        )
        dsession = self.pyconfig.pluginmanager.getplugin("dsession")
        if dsession is not None:
            dsession.shouldstop = "no space left for the evidence"
        elif self.session is not None:
            self.session.shouldstop = "no space left for the evidence"

    def _decide_early(self) -> None:
        """A fired trigger cannot recover (docs/decisions.md): stop the suite there, so the
        rollback starts now rather than after the slower gates."""
        policy = self.state.decision_policy
        if policy is None or self.early is not None or self.state.override is not None:
            return
        from ..decision.decide import decide

        decision = decide(list(self.results.values()), policy, final=False)
        if decision.verdict != "rollback":
            return
        self.early = decision
        reason = f"early decision: {decision.rule}"
        self.progress.note(f"{reason}; the remaining gates are not run")
        dsession = self.pyconfig.pluginmanager.getplugin("dsession")  # xdist's scheduler
        if dsession is not None:
            dsession.shouldstop = reason
        elif self.session is not None:
            self.session.shouldstop = reason

    def _result(self, pending: _Pending) -> GateResult:
        meta = pending.meta
        verdict: dict[str, Any] = {"status": PASS}
        recorded: dict[str, Any] = {}
        host = ""
        for phase in pending.phases:
            recorded = phase.get("recorded", recorded)
            host = phase.get("host", host)
            if verdict["status"] == PASS and phase["status"] != PASS:
                verdict = phase
            elif verdict["status"] in (SKIPPED, WAIVED) and phase["status"] in (ERROR, FAIL):
                verdict = phase  # a teardown error after a skip still means "could not look"
        if verdict["status"] == PASS and not any(p["phase"] == "call" for p in pending.phases):
            verdict = {
                "status": ERROR,
                "error_class": "check_error",
                "message": "the check never ran",
            }
        blobs = []
        for blob in recorded.get("blobs", []):
            content = self.redactor.blob(base64.b64decode(blob["b64"]))
            assert self.staging is not None
            digest = self.staging.add_blob(content)
            blobs.append(BlobRef(blob["name"], digest, len(content), blob["media_type"]))
        now = now_iso()
        result = GateResult(
            gate_id=meta["gate_id"],
            suite=meta["suite"],
            status=verdict["status"],
            severity=meta["severity"],
            required=meta["required"],
            error_class=verdict.get("error_class"),
            message=self.redactor.text(verdict.get("message", "")),
            nodeid=meta["nodeid"],
            measurements=self.redactor.data(recorded.get("measurements", {})),
            attempts=[Attempt(**a) for a in self.redactor.data(recorded.get("attempts", []))],
            blobs=blobs,
            duration=round(time.monotonic() - pending.started, 6),
            started_at=pending.started_at,
            finished_at=now,
            host=host or host_name(),
            worker=pending.worker,
            details=self.redactor.text(verdict.get("details", "")),
        )
        return result

    # -- session end ----------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.staging is None or self.manifest is None:
            return
        try:
            self._publish(session, exitstatus)
        except NoSpaceError as exc:
            self.no_space = exc.message
        if self.no_space is not None:
            # One line, exit 2: the run's evidence could not be written; it stays staged.
            self.staging.close()
            sys.stderr.write(f"ipai: error: {self.no_space}\n")
            session.exitstatus = EXIT_USAGE
            self._report_to(None, EXIT_USAGE)

    def _report_to(self, pack: Path | None, code: int) -> None:
        report_to = self.pyconfig.getoption("ipai_report_to")
        if report_to:
            document = {"pack": None if pack is None else str(pack), "exit_code": code}
            Path(report_to).write_text(json.dumps(document) + "\n")

    def _publish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.no_space is not None or self.staging is None or self.manifest is None:
            return
        for nodeid, pending in list(self.pending.items()):
            # Reports stopped mid-gate (interrupt, maxfail, shutdown): the gate could not finish.
            pending.phases.append(
                {
                    "phase": "end",
                    "status": ERROR,
                    "error_class": "interrupted",
                    "message": "the session ended before this gate finished",
                }
            )
            self._finish(nodeid, pending)
        # Stopping early for a decision interrupts pytest on purpose: not a tool failure.
        stopped = int(exitstatus) == 2 and self.early is not None
        tool_failure = (int(exitstatus) in (2, 3, 4) and not stopped) or self.collection_failed
        policy, override = self.state.decision_policy, self.state.override
        made: list[Decision] = []

        def decide_now(results: list[GateResult]) -> dict[str, Any]:
            from ..decision.decide import decide

            assert policy is not None
            made.append(decide(results, policy, final=True, override=override))
            recorded: dict[str, Any] = self.redactor.data(made[-1].to_dict())
            return recorded

        pack, code = publish_run(
            self.staging,
            manifest=self.manifest,
            results=list(self.results.values()),
            expected=self.expected,
            interrupted=tool_failure,
            tool_failure=tool_failure,
            decide=decide_now if policy is not None else None,
            not_run_reason=(
                f"not run: the suite stopped at an early decision ({self.early.rule})"
                if self.early is not None
                else None
            ),
            policy=self.policy,
            config=self.config_doc,
            signer=self.state.signer,
        )
        if made:
            self.progress.note(f"decision: {made[0].verdict} ({made[0].rule}): {made[0].reason}")
        session.exitstatus = code
        self.progress.finished(pack, code)
        self._report_to(pack, code)
