"""Log gates: no ERROR/CRITICAL record since the deploy started, and a 5xx rate below the limit
in the window after it. Read as a stream from the configured log file, or from the Odoo
container's output through the engine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from pytest_ipai.config.policy import Policy
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.memo import RunMemo
from pytest_ipai.core.recorder import GateRecorder

from .log_source import read_odoo_log

pytestmark = [pytest.mark.postdeploy]


@pytest.mark.gate("logs.no_errors", severity="critical")
def test_no_errors(
    ipai_gate: GateRecorder,
    ipai_config: StackConfig,
    ipai_since: datetime,
    ipai_policy: Policy,
    ipai_run_memo: RunMemo,
) -> None:
    scan = read_odoo_log(ipai_gate, ipai_config, ipai_policy, ipai_run_memo, ipai_since)
    ipai_gate.measure("errors", scan.errors)
    ipai_gate.measure("ignored", scan.ignored)
    ipai_gate.measure("before_deploy", scan.out_of_window)
    excerpt: dict[str, Any] = {
        "fingerprints": scan.fingerprints,
        "first_records": [r.text for r in scan.samples],
    }
    ipai_gate.blob("log errors.json", json.dumps(excerpt, indent=1), "application/json")
    if scan.errors:
        top = sorted(scan.fingerprints.items(), key=lambda kv: -kv[1])[:3]
        first = scan.samples[0]
        ipai_gate.fail(
            "log_error",
            f"{scan.errors} ERROR/CRITICAL record(s) since {ipai_since:%Y-%m-%d %H:%M:%S}, "
            f"first at {first.timestamp} (pid {first.pid}); "
            + "; ".join(f"{n}x {fp}" for fp, n in top),
        )


@pytest.mark.gate("http.error_rate", severity="critical")
def test_error_rate(
    ipai_gate: GateRecorder,
    ipai_config: StackConfig,
    ipai_since: datetime,
    ipai_policy: Policy,
    ipai_run_memo: RunMemo,
) -> None:
    window = float(ipai_gate.params.get("window_minutes", 10))
    min_samples = int(ipai_gate.params.get("min_samples", 20))
    limit = float(ipai_gate.params.get("max_rate", 0.05))
    until = ipai_since + timedelta(minutes=window)
    scan = read_odoo_log(
        ipai_gate, ipai_config, ipai_policy, ipai_run_memo, ipai_since, own_ignore=False
    )
    total, bad = scan.access_total, scan.access_5xx
    ipai_gate.measure("requests", total)
    ipai_gate.measure("errors_5xx", bad)
    ipai_gate.measure("excluded", scan.access_excluded)
    window_text = f"{ipai_since:%H:%M:%S}-{until:%H:%M:%S} ({window:g} min)"
    if total < min_samples:
        ipai_gate.inconclusive(
            f"{total} requests in {window_text}, fewer than min_samples {min_samples}"
        )
    rate = bad / total
    ipai_gate.measure("rate", round(rate, 4))
    if rate > limit:
        ipai_gate.fail(
            "error_rate_exceeded",
            f"{bad}/{total} requests answered 5xx ({rate:.1%}) in {window_text}; limit {limit:.0%}",
        )
