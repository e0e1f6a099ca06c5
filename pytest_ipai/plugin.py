"""The pytest plugin: options, markers, fixtures, and the controller that turns reports into
gate results and an evidence pack.

Two halves, so results survive pytest-xdist worker crashes and pytest-timeout kills:

* the *item side* runs where checks run (the only process without xdist, or each worker). It
  classifies each phase and attaches gate metadata plus what the check recorded to the report's
  ``user_properties``, which xdist carries to the controller;
* the *controller* (never a worker) caches that metadata per node id as soon as the setup report
  arrives, so a later crash report (which carries nothing) is still an ``error`` for the right
  gate. It alone writes files: each result is journaled (fsynced) as it arrives, and the pack is
  published at the end of the session. Without xdist it also marks the gate in flight, so a
  run killed mid-check is recovered into a pack by the next run or ``ipai evidence recover``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .addons.stack import StackAddons, load_stack_addons
from .addons_manifest import AddonsManifest, load_addons_manifest
from .config import StackConfig, find_config, load_config
from .decision import Decision, DecisionPolicy, Override, decide, load_decision_policy
from .errors import EXIT_USAGE, IpaiError
from .evidence.manifest import current_user, start_manifest
from .evidence.pack import Staging, check_run_id, host_name, new_run_id
from .evidence.publish import expected_entry, publish_run, recover_orphans
from .hosts import LOCAL, Target, target_spec
from .outcomes import GateError, GateOutcome
from .policy import GatePolicy, Policy, load_policy
from .progress import Progress
from .recorder import GateRecorder
from .redact import Redactor
from .resources import checks_dir
from .results import ERROR, FAIL, PASS, SKIPPED, WAIVED, Attempt, BlobRef, GateResult
from .timeutil import iso, parse_iso, utc_now

SUITES = ("predeploy", "postdeploy")
GATE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PROP = "ipai"
MAX_DETAILS = 20_000

meta_key = pytest.StashKey[dict[str, Any]]()
recorder_key = pytest.StashKey[GateRecorder]()


# --------------------------------------------------------------------------- options, markers
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipai", "pytest-ipai deploy gates")
    group.addoption(
        "--ipai-config", metavar="PATH", help="stack config (ipai.toml or pyproject.toml)"
    )
    group.addoption("--ipai-env", metavar="ENV", help="environment of the config to check")
    group.addoption("--ipai-evidence-root", metavar="DIR", help="where evidence packs are written")
    group.addoption("--ipai-run-id", metavar="ID", help="run id (default: UTC time + random)")
    group.addoption(
        "--ipai-suite",
        metavar="SUITE",
        help="suite of this run (default: from -m when it names one)",
    )
    group.addoption(
        "--ipai-progress",
        choices=("auto", "lines", "off"),
        default="off",
        help="one line per finished gate (auto: colour on a terminal, plain in CI)",
    )
    group.addoption(
        "--ipai-since",
        metavar="'YYYY-MM-DD HH:MM:SS'",
        help="deploy start in the log's clock (default: the state file, else window before now)",
    )
    group.addoption(
        "--ipai-decide",
        action="store_true",
        help="decide promote / hold / rollback from the results (decision.json in the pack)",
    )
    group.addoption(
        "--ipai-override",
        choices=("promote", "hold", "rollback"),
        help="operator override of the decision (needs --ipai-override-reason)",
    )
    group.addoption("--ipai-override-reason", metavar="TEXT", help="why the decision is overridden")
    group.addoption(
        "--ipai-report-to", metavar="FILE", help="write {pack, exit_code} as JSON here (ipai gate)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "predeploy: gate of the pre-deploy suite")
    config.addinivalue_line("markers", "postdeploy: gate of the post-deploy suite")
    config.addinivalue_line(
        "markers", "gate(gate_id, severity=None): a deploy gate with a stable, unique id"
    )
    try:
        state = IpaiState.create(config)
    except IpaiError as exc:
        # One line ("Exit: ipai: ..."), exit 2: a bad config must not look like a failed gate.
        pytest.exit(f"ipai: {exc.message}", returncode=EXIT_USAGE)
    if state is None:
        return
    config.stash[state_key] = state
    config.pluginmanager.register(ItemSide(state), "ipai-item-side")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Controller(config, state), "ipai-controller")
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # No paths given: the suites are the bundled checks, wherever pytest was started.
        config.args = [str(checks_dir())]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Checks of one host share an xdist group: one worker, one connection to that host. First,
    so that xdist's loadgroup sees the marks."""
    state = config.stash.get(state_key, None)
    if state is None:
        return
    group = pytest.mark.xdist_group(state.target.group)
    for item in items:
        if "ipai_host" in getattr(item, "fixturenames", ()):
            item.add_marker(group)


# --------------------------------------------------------------------------- run state
@dataclass
class IpaiState:
    config: StackConfig
    policy: Policy
    suite: str | None
    run_id: str
    evidence_root: Path
    decision_policy: DecisionPolicy | None = None
    override: Override | None = None
    target: Target = field(default_factory=lambda: Target(LOCAL))

    @classmethod
    def create(cls, pyconfig: pytest.Config) -> IpaiState | None:
        option = pyconfig.getoption("ipai_config")
        path = Path(option) if option else find_config(pyconfig.invocation_params.dir)
        if path is None:
            return None  # not a pytest-ipai run: stay out of the way
        worker = hasattr(pyconfig, "workerinput")
        stack = load_config(path, pyconfig.getoption("ipai_env"), validate=not worker)
        policy = load_policy(stack.env.policy_file, validate=not worker)
        root_opt = pyconfig.getoption("ipai_evidence_root")
        root = Path(root_opt).resolve() if root_opt else stack.env.evidence_root
        if worker:
            run_id = str(getattr(pyconfig, "workerinput")["ipai_run_id"])  # noqa: B009
        else:
            given = pyconfig.getoption("ipai_run_id")
            run_id = check_run_id(given) if given else new_run_id()
        decision = None
        if pyconfig.getoption("ipai_decide") or pyconfig.getoption("ipai_override"):
            decision = load_decision_policy(stack.env.policy_file)
        override = None
        if pyconfig.getoption("ipai_override"):
            override = Override(
                pyconfig.getoption("ipai_override"),
                pyconfig.getoption("ipai_override_reason") or "",
                current_user(),
            )
        suite = pyconfig.getoption("ipai_suite") or _suite_from_markexpr(pyconfig)
        if suite is not None and suite not in policy.suites() and suite not in SUITES:
            raise IpaiError(f"--ipai-suite {suite}: no such suite ({', '.join(policy.suites())})")
        # --hosts is pytest-testinfra's option (present when its plugin is loaded).
        spec = target_spec(
            getattr(pyconfig.option, "hosts", None),
            stack.env.raw.get("hosts"),
            f"environments.{stack.env.name}",
        )
        return cls(
            config=stack,
            policy=policy,
            suite=suite,
            run_id=run_id,
            evidence_root=root,
            decision_policy=decision,
            override=override,
            target=Target(spec),
        )


state_key = pytest.StashKey[IpaiState]()


def _suite_from_markexpr(config: pytest.Config) -> str | None:
    expr = (config.getoption("markexpr", "") or "").strip()
    return expr if re.fullmatch(r"[a-z][a-z0-9_]*", expr) and expr in (*SUITES,) else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist hook (controller): workers share the controller's run id."""
    state = node.config.stash.get(state_key, None)
    if state is not None:
        node.workerinput["ipai_run_id"] = state.run_id


# --------------------------------------------------------------------------- collection
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect the bundled check modules (named gate_*.py, so python_files never matches them)."""
    if parent.config.stash.get(state_key, None) is None:
        return None
    if file_path.suffix != ".py" or not file_path.name.startswith("gate_"):
        return None
    if checks_dir() not in file_path.parents:
        return None
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def _suite_of(item: pytest.Item) -> str | None:
    for suite in SUITES:
        if item.get_closest_marker(suite) is not None:
            return suite
    return None


def gate_meta(item: pytest.Item, state: IpaiState) -> dict[str, Any] | str | None:
    """Metadata for a gate item, an error text for a malformed one, None for ordinary tests."""
    marker = item.get_closest_marker("gate")
    suite = _suite_of(item)
    if marker is None:
        return None if suite is None else f"{item.nodeid}: marked {suite} but has no gate id"
    if not marker.args or not isinstance(marker.args[0], str) or not GATE_ID.match(marker.args[0]):
        return f"{item.nodeid}: gate id must be a dotted lower-case name such as oca.repos_present"
    gate_id = marker.args[0]
    policy: GatePolicy | None = state.policy.get(gate_id)
    if policy is not None:
        suite = suite or policy.suite
        if suite != policy.suite:
            return (
                f"{item.nodeid}: gate {gate_id} is marked {suite} "
                f"but the policy puts it in {policy.suite}"
            )
    if suite is None:
        return (
            f"{item.nodeid}: gate {gate_id} belongs to no suite (mark it predeploy or postdeploy)"
        )
    severity = (policy.severity if policy else None) or marker.kwargs.get("severity") or "normal"
    timeout_marker = item.get_closest_marker("timeout")
    timeout = None
    if timeout_marker is not None and timeout_marker.args:
        timeout = float(timeout_marker.args[0])
    elif policy is not None:
        timeout = policy.timeout
    return {
        "gate_id": gate_id,
        "suite": suite,
        "severity": severity,
        "required": policy.required if policy else True,
        "enabled": policy.enabled if policy else True,
        "timeout": timeout,
        "params": policy.params if policy else {},
        "nodeid": item.nodeid,
    }


class ItemSide:
    """Hooks of the process that runs checks."""

    def __init__(self, state: IpaiState) -> None:
        self.state = state

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        seen: dict[str, str] = {}
        problems: list[str] = []
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            meta = gate_meta(item, self.state)
            if isinstance(meta, str):
                problems.append(meta)
            elif meta is not None:
                gate_id = meta["gate_id"]
                if gate_id in seen:
                    problems.append(
                        f"duplicate gate id {gate_id}: {seen[gate_id]} and {item.nodeid}"
                    )
                seen.setdefault(meta["gate_id"], item.nodeid)
                if not meta["enabled"]:
                    dropped.append(item)
                    continue
                item.stash[meta_key] = meta
                if item.get_closest_marker("timeout") is None and meta["timeout"]:
                    item.add_marker(pytest.mark.timeout(meta["timeout"]))
            keep.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        for problem in problems:
            # A malformed gate is a collection error: the run stops before any gate runs.
            report = pytest.CollectReport(
                nodeid="ipai", outcome="failed", longrepr=f"ipai: {problem}", result=[]
            )
            config.hook.pytest_collectreport(report=report)
        if problems:
            items.clear()  # xdist workers would otherwise run the rest regardless

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        meta = item.stash.get(meta_key, None)
        if meta is None:
            return
        payload: dict[str, Any] = {"meta": meta, "phase": call.when, "host": host_name()}
        payload.update(_classify(report, call))
        recorder = item.stash.get(recorder_key, None)
        if recorder is not None and call.when != "setup":
            payload["recorded"] = recorder.to_payload()
        report.user_properties.append((PROP, json.dumps(payload)))


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """Status, error class and message of one phase, from the exception the check raised."""
    if report.passed and not hasattr(report, "wasxfail"):
        return {"status": PASS}
    if hasattr(report, "wasxfail"):
        return {"status": WAIVED, "message": f"xfail: {report.wasxfail}"}
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return {"status": SKIPPED, "message": reason.removeprefix("Skipped: ")}
    excinfo = call.excinfo
    details = str(report.longrepr)[-MAX_DETAILS:]
    if excinfo is None:
        return {
            "status": ERROR,
            "error_class": "check_error",
            "message": "failed",
            "details": details,
        }
    exc = excinfo.value
    if isinstance(exc, GateOutcome):
        return {
            "status": exc.status,
            "error_class": exc.error_class,
            "message": exc.message,
            "details": details,
        }
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, pytest.fail.Exception) and text.startswith("Timeout"):
        return {"status": ERROR, "error_class": "timeout", "message": text, "details": details}
    if isinstance(exc, AssertionError) and call.when == "call":
        first = text.splitlines()[0] if text else "assertion failed"
        return {
            "status": FAIL,
            "error_class": "assertion_failed",
            "message": first,
            "details": details,
        }
    phase = {"setup": "setup_error", "teardown": "teardown_error"}.get(call.when, "check_error")
    message = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
    return {"status": ERROR, "error_class": phase, "message": message, "details": details}


# --------------------------------------------------------------------------- fixtures
def _state(request: pytest.FixtureRequest) -> IpaiState:
    state = request.config.stash.get(state_key, None)
    if state is None:
        raise IpaiError("no pytest-ipai config: pass --ipai-config or add ipai.toml")
    return state


@pytest.fixture(scope="session")
def ipai_config(request: pytest.FixtureRequest) -> StackConfig:
    """The validated stack config, with the selected environment."""
    return _state(request).config


@pytest.fixture(scope="session")
def ipai_policy(request: pytest.FixtureRequest) -> Policy:
    return _state(request).policy


@pytest.fixture(scope="session")
def ipai_addons_manifest(request: pytest.FixtureRequest) -> AddonsManifest:
    """The addons manifest; unreadable or invalid, every gate that needs it is an error."""
    config = _state(request).config
    try:
        return load_addons_manifest(config.addons_manifest, config.repo_root)
    except IpaiError as exc:
        raise GateError("addons_manifest_invalid", exc.message) from None


@pytest.fixture(scope="session")
def ipai_stack_addons(
    request: pytest.FixtureRequest, ipai_addons_manifest: AddonsManifest
) -> StackAddons:
    """The addons tree along addons_path, discovered once per process."""
    try:
        return load_stack_addons(_state(request).config, ipai_addons_manifest)
    except IpaiError as exc:
        raise GateError("addons_tree_unreadable", exc.message) from None


@pytest.fixture(scope="session")
def ipai_host(request: pytest.FixtureRequest) -> Target:
    """The host that host checks look at: local, or --hosts / environments.*.hosts."""
    return _state(request).target


@pytest.fixture(scope="session")
def ipai_since(request: pytest.FixtureRequest) -> datetime:
    """When the deploy started: --ipai-since, else the state file's last_deploy_timestamp."""
    given = request.config.getoption("ipai_since")
    config = _state(request).config
    if given:
        try:
            return datetime.strptime(given, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise GateError(
                "since_invalid", f"--ipai-since {given!r}: use 'YYYY-MM-DD HH:MM:SS'"
            ) from None
    state = config.env.path("state_file")
    if state is not None and state.is_file():
        try:
            stamp = json.loads(state.read_text("utf-8"))["last_deploy_timestamp"]
            return parse_iso(stamp).astimezone(UTC).replace(tzinfo=None)
        except (OSError, ValueError, KeyError, TypeError):
            raise GateError(
                "since_invalid", f"{state}: no readable last_deploy_timestamp"
            ) from None
    raise GateError(
        "since_unknown", "deploy start unknown: pass --ipai-since or set environments.*.state_file"
    )


@pytest.fixture
def ipai_gate(request: pytest.FixtureRequest) -> GateRecorder:
    """Recorder for the gate under test: measurements, attempts, blobs, and its outcome."""
    node = request.node
    meta = node.stash.get(meta_key, None)
    if meta is None:
        raise IpaiError(f"{node.nodeid}: ipai_gate is only for tests marked with a gate id")
    recorder = GateRecorder(gate_id=meta["gate_id"], params=dict(meta["params"]))
    node.stash[recorder_key] = recorder
    return recorder


# --------------------------------------------------------------------------- controller
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

    # -- session start ------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        try:
            for path in recover_orphans(self.state.evidence_root):
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
        self.staging = Staging(self.state.evidence_root, self.state.run_id)
        expected = [expected_entry(g) for g in self.expected]
        self.staging.write_session(
            {"manifest": self.manifest, "expected": expected, "pid": os.getpid()}
        )
        self.staging.journal.append("start", {"run_id": self.state.run_id, "expected": expected})
        self.progress.expect(len(self.expected))

    # -- runs in-process only (no xdist): remember which gate is in flight -----------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        meta = item.stash.get(meta_key, None)
        if meta is not None and self.staging is not None:
            self.staging.mark_started({"meta": meta, "started_at": iso(utc_now())})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_failed = True

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.starts[nodeid] = (time.monotonic(), iso(utc_now()))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = _payload(report)
        nodeid = report.nodeid
        pending = self.pending.get(nodeid)
        if payload is not None and pending is None:
            started, started_at = self.starts.get(nodeid, (time.monotonic(), iso(utc_now())))
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
        result = self._result(pending)
        if result.gate_id in self.results:
            return  # a rerun of the same gate (xdist replay): the first verdict stands
        self.results[result.gate_id] = result
        assert self.staging is not None
        self.staging.record(result)
        self.progress.gate_done(result)
        self._decide_early()

    def _decide_early(self) -> None:
        """A fired trigger cannot recover (DESIGN.md section 8): stop the suite there, so the
        rollback starts now rather than after the slower gates."""
        policy = self.state.decision_policy
        if policy is None or self.early is not None or self.state.override is not None:
            return
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
        now = iso(utc_now())
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
        )
        if made:
            self.progress.note(f"decision: {made[0].verdict} ({made[0].rule}): {made[0].reason}")
        session.exitstatus = code
        self.progress.finished(pack, code)
        report_to = self.pyconfig.getoption("ipai_report_to")
        if report_to:
            Path(report_to).write_text(json.dumps({"pack": str(pack), "exit_code": code}) + "\n")


def _payload(report: pytest.TestReport) -> dict[str, Any] | None:
    for name, value in report.user_properties:
        if name == PROP and isinstance(value, str):
            data: dict[str, Any] = json.loads(value)
            return data
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """With --ipai-progress, our per-gate lines replace pytest's letters for gate checks."""
    if config.getoption("ipai_progress", "off") == "off" or _payload(report) is None:
        return None
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return ("xfailed" if report.skipped else "xpassed", "", "")
        return (report.outcome, "", "")
    if report.failed:
        return ("error", "", "")
    if report.skipped:
        return ("skipped", "", "")
    return ("", "", "")
