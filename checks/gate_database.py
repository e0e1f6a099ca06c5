"""Database gates, against the running stack's PostgreSQL: it answers, and the modules it has
installed are the ones on disk, at the versions on disk."""

from __future__ import annotations

import json
import time

import pytest

from pytest_ipai.addons.migrations import ORDER, ModuleRow, compare
from pytest_ipai.addons.stack import StackAddons
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.database import Target, connect, target_for

pytestmark = [pytest.mark.postdeploy]


def _target(gate: GateRecorder, config: StackConfig) -> Target:
    try:
        return target_for(config.env)
    except IpaiError as exc:
        gate.error("db_not_configured", exc.message)


@pytest.mark.gate("db.reachable", severity="critical")
def test_db_reachable(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    target = _target(ipai_gate, ipai_config)
    retries = int(ipai_gate.params.get("retries", 3))
    last = ""
    for attempt in range(1, retries + 1):
        started = time.monotonic()
        try:
            with connect(target) as conn:
                conn.execute("SET TRANSACTION READ ONLY")
                version = conn.execute("SELECT current_setting('server_version')").fetchone()
            ipai_gate.attempt("ok", f"server {version[0] if version else '?'}", started=started)
            ipai_gate.measure("latency", round(time.monotonic() - started, 4), "s")
            return
        except IpaiError as exc:
            last = exc.message
            ipai_gate.attempt("failed", last, started=started)
            if attempt < retries:
                time.sleep(min(2.0, 0.25 * 2**attempt))
    ipai_gate.fail("db_unreachable", f"{retries} attempts: {last}")


@pytest.mark.gate("db.migrations_applied", severity="critical")
def test_migrations_applied(
    ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_stack_addons: StackAddons
) -> None:
    target = _target(ipai_gate, ipai_config)
    try:
        with connect(target) as conn:
            conn.execute("SET TRANSACTION READ ONLY")
            fetched = conn.execute(
                "SELECT name, state, latest_version FROM ir_module_module ORDER BY name"
            ).fetchall()
    except IpaiError as exc:
        ipai_gate.error("db_unreachable", exc.message)
    rows = [ModuleRow(*row) for row in fetched]
    ipai_gate.blob(
        "ir_module_module.json",
        json.dumps([r.__dict__ for r in rows], indent=1),
        "application/json",
    )
    ipai_gate.measure("installed", sum(r.state == "installed" for r in rows))
    findings = compare(rows, ipai_stack_addons)
    ipai_gate.fail_findings(
        [(f.error_class, f.message) for k in ORDER for f in findings if f.error_class == k]
    )
