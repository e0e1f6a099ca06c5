"""Collection: the bundled check modules, each gate's metadata from its marks and the policy,
and the item side that attaches a phase's verdict to its report.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from ..config.policy import GatePolicy
from ..config.resources import checks_dir
from ..evidence.pack import host_name
from .classify import classify
from .state import GATE_ID, PROP, SUITES, IpaiState, meta_key, recorder_key, state_key


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect the bundled check modules (named gate_*.py, so python_files never matches them)."""
    state = parent.config.stash.get(state_key, None)
    if state is None:
        return None
    if file_path.suffix != ".py" or not file_path.name.startswith("gate_"):
        return None
    if checks_dir() not in file_path.parents:
        return None
    if not _may_hold_suite(file_path, state.suite, parent.config):
        return None
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def _may_hold_suite(path: Path, suite: str | None, config: pytest.Config) -> bool:
    """Whether a bundled module can hold a gate that ``-m SUITE`` selects: it must say the
    suite's mark. Modules that cannot are not imported at all (a pre-deploy run never imports
    the HTTP client the post-deploy checks use: a fifth of its start-up). A module skipped
    wrongly would leave its gates not_run, which fails the suite: never a silent pass."""
    if suite is None or (config.getoption("markexpr", "") or "").strip() != suite:
        return True  # an ad-hoc selection: collect everything, let -m decide
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return True  # let the import report it
    return re.search(rf"\bmark\.{re.escape(suite)}\b", text) is not None


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
        self.host = host_name()  # where the checks run: asked once, not per phase

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
        # The gate's metadata travels once, with its setup report; the controller keeps it per
        # node id for the later phases (and for a crash report, which carries nothing).
        payload: dict[str, Any] = {"phase": call.when, "host": self.host}
        if call.when == "setup":
            payload["meta"] = meta
        payload.update(classify(report, call))
        recorder = item.stash.get(recorder_key, None)
        if recorder is not None and call.when != "setup":
            payload["recorded"] = recorder.to_payload()
        report.user_properties.append((PROP, json.dumps(payload)))
