"""One deploy or rollback run: its steps with timings, its evidence pack (``deploy-<env>``) and
its ``deploy_result.json``. The steps are journaled as they finish, so a driver killed mid-run
leaves a pack that ``ipai evidence recover`` (or the next deploy) publishes as interrupted.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.fsio import write_json_atomic
from pytest_ipai.core.redact import Redactor
from pytest_ipai.core.results import ERROR, FAIL, PASS, SKIPPED, BlobRef, GateResult
from pytest_ipai.core.timeutil import iso, utc_now
from pytest_ipai.deploy.state import DeployError
from pytest_ipai.evidence.attest import load_pack_signer
from pytest_ipai.evidence.manifest import start_manifest
from pytest_ipai.evidence.pack import Staging, host_name, new_run_id
from pytest_ipai.evidence.publish import config_snapshot, publish_run

from .deploy_config import config_digest

# The SLO budgets of a deploy, by environment name (docs/deploy.md).
BUDGET_MINUTES = {"dev": 5.0, "staging": 10.0, "prod": 15.0}

# What the operator (or deploy-until-green) can do about each class.
NEXT_AUTO_FIX = {
    "deploy_lock_held": "wait for the running deploy to finish, then retry",
    "executor_unreachable": "retry once the container engine answers",
    "dirty_tree": None,
    "push_capability_detected": None,
    "invalid_ref": None,
}


def budget_seconds(config: StackConfig) -> float:
    deploy = config.env.raw.get("deploy") or {}
    if "budget_minutes" in deploy:
        return float(deploy["budget_minutes"]) * 60
    if config.env.production:
        return BUDGET_MINUTES["prod"] * 60
    return BUDGET_MINUTES.get(config.env.name, BUDGET_MINUTES["prod"]) * 60


@dataclass
class StepRecord:
    name: str
    started_at: str
    started: float
    status: str = PASS
    detail: str = ""
    error_class: str | None = None
    blobs: list[tuple[str, str]] = field(default_factory=list)

    def note(self, detail: str) -> None:
        self.detail = detail

    def blob(self, name: str, text: str) -> None:
        self.blobs.append((name, text))


class DeployRun:
    def __init__(self, config: StackConfig, command: str, sha: str | None) -> None:
        self.config = config
        self.command = command
        self.run_id = new_run_id()
        self.sha = sha
        self.previous_sha: str | None = None
        self.started_at = utc_now()
        self.started = time.monotonic()
        self.steps: list[dict[str, Any]] = []
        self.results: list[GateResult] = []
        self.redactor = Redactor(config.secret_values())
        self.evidence: dict[str, str | None] = {}
        self.extra: dict[str, Any] = {}
        self.decision: dict[str, Any] | None = None
        self.scope = f"{command}-{config.env.name}"
        manifest = start_manifest(
            run_id=self.run_id,
            suite=command,
            scope=self.scope,
            config=config,
            started_at=iso(self.started_at),
            host=host_name(),
            policy_sources=[],
        )
        self.manifest = self.redactor.data(manifest)
        self.signer = load_pack_signer(config)
        self.config_doc = config_snapshot(config, self.redactor.data)
        self.staging = Staging(config.env.evidence_root, self.run_id)
        self.expected: list[dict[str, Any]] = []
        self.started_journal = False
        self._write_session()

    def _write_session(self) -> None:
        self.staging.write_session(
            {
                "manifest": self.manifest,
                "expected": self.expected,
                "config": self.config_doc,
                "pid": os.getpid(),
            }
        )

    def expect(self, names: list[str]) -> None:
        """The steps this run means to take (a step never reached is ``not_run`` in the pack)."""
        self.expected[:] = [
            {
                "gate_id": f"{self.command}.{n}",
                "suite": self.command,
                "severity": "critical",
                "required": True,
            }
            for n in names
        ]
        self._write_session()
        self._start_journal()

    def _start_journal(self) -> None:
        """The journal's first line names the steps expected (once they are known, before the
        first step's result)."""
        if not self.started_journal:
            self.staging.journal.append("start", {"run_id": self.run_id, "expected": self.expected})
            self.started_journal = True

    @contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        record = StepRecord(name, iso(utc_now()), time.monotonic())
        meta = {
            "gate_id": f"{self.command}.{name}",
            "suite": self.command,
            "severity": "critical",
            "required": True,
            "nodeid": None,
            "timeout": None,
        }
        self.staging.mark_started({"meta": meta, "started_at": record.started_at})
        try:
            yield record
        except DeployError as exc:
            record.status, record.error_class = FAIL, exc.error_class
            record.detail = exc.message
            raise
        except IpaiError as exc:
            # A tool that could not run (a timeout, a missing binary): the step errs, and the
            # driver handles it like any other failed step.
            record.status, record.error_class = ERROR, "tool_error"
            record.detail = exc.message
            raise DeployError("tool_error", exc.message) from None
        finally:
            self._finish(record)

    def skip(self, name: str, why: str) -> None:
        with self.step(name) as record:
            record.status = SKIPPED
            record.note(why)

    def _finish(self, record: StepRecord) -> None:
        duration = max(0.0, time.monotonic() - record.started)
        detail = self.redactor.text(record.detail)
        self.steps.append(
            {
                "name": record.name,
                "status": record.status,
                "started_at": record.started_at,
                "duration": round(duration, 3),
                "detail": detail,
                "error_class": record.error_class,
            }
        )
        refs = []
        for name, text in record.blobs:
            data = self.redactor.blob(text.encode("utf-8"))
            refs.append(BlobRef(name, self.staging.add_blob(data), len(data)))
        result = GateResult(
            measurements={"config_sha256": config_digest(self.config)},
            gate_id=f"{self.command}.{record.name}",
            suite=self.command,
            status=record.status,
            severity="critical",
            error_class=record.error_class,
            message=detail,
            duration=duration,
            started_at=record.started_at,
            finished_at=iso(utc_now()),
            host=host_name(),
            blobs=refs,
        )
        self._start_journal()
        self.staging.record(result)
        self.results.append(result)

    def finish(
        self, overall: str, exit_code: int, failure: DeployError | None, **fields: Any
    ) -> dict[str, Any]:
        """Publish the pack and return ``deploy_result.json`` (also written next to the state)."""
        self._start_journal()
        duration = time.monotonic() - self.started
        budget = budget_seconds(self.config)
        failed = next((s for s in self.steps if s["status"] in (FAIL, ERROR)), None)
        error_class = failure.error_class if failure else (failed or {}).get("error_class")
        result: dict[str, Any] = {
            "run_id": self.run_id,
            "command": self.command,
            "env": self.config.env.name,
            "overall": overall,
            "step_failed": (failed or {}).get("name"),
            "error_class": error_class,
            "message": self.redactor.text(failure.message) if failure else "",
            "next_auto_fix": NEXT_AUTO_FIX.get(error_class or ""),
            "retryable": bool(failure and failure.retryable),
            "sha": self.sha,
            "previous_sha": self.previous_sha,
            "started_at": iso(self.started_at),
            "finished_at": iso(utc_now()),
            "duration": round(duration, 3),
            "budget_seconds": budget,
            "within_budget": duration <= budget,
            "steps": self.steps,
            "evidence": self.evidence,
            **fields,
        }
        pack, _ = publish_run(
            self.staging,
            manifest=self.manifest,
            results=self.results,
            expected=self.expected,
            decision=self.decision,
            extra={"deploy_result.json": result},
            exit_code=exit_code,
            config=self.config_doc,
            signer=self.signer,
        )
        result["evidence"] = {**self.evidence, self.scope: str(pack)}
        self.write_result(result)
        return result

    def write_result(self, result: dict[str, Any]) -> None:
        where = result_path(self.config)
        where.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(where, result)


def state_dir(config: StackConfig) -> Path:
    state = config.env.path("state_file")
    if state is None:
        raise IpaiError(f"{config.file}: environments.{config.env.name}.state_file: not set")
    return state.parent


def result_path(config: StackConfig) -> Path:
    return state_dir(config) / "deploy_result.json"


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1)
