"""Log gates: no ERROR/CRITICAL record since the deploy started, and a 5xx rate below the limit
in the window after it. Read from the configured log file as a stream."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_ipai.config import StackConfig
from pytest_ipai.odoo_logs import LogScan, scan_file
from pytest_ipai.recorder import GateRecorder

pytestmark = [pytest.mark.postdeploy]
LOG_TIME = "%Y-%m-%d %H:%M:%S"


def _source(gate: GateRecorder, config: StackConfig) -> Path:
    source = config.env.raw.get("log_source")
    if not source:
        gate.error("log_source_unavailable", f"environments.{config.env.name}.log_source: not set")
    if "file" not in source:
        gate.error(
            "log_source_unavailable", "container log sources need the engine probe (not built yet)"
        )
    path = (config.base_dir / source["file"]).resolve()
    if not path.is_file():
        gate.error("log_source_unavailable", f"{path}: no such log file")
    return path


def _ignore_rules(gate: GateRecorder) -> list[re.Pattern[str]]:
    """Known noise, each with an owner and an expiry; an expired entry no longer hides anything."""
    rules, expired = [], []
    today = datetime.now().date().isoformat()
    for entry in gate.params.get("ignore", []):
        if not isinstance(entry, dict) or not {"pattern", "owner", "expires"} <= set(entry):
            gate.error("ignore_list_invalid", "each ignore entry needs pattern, owner and expires")
        if str(entry["expires"]) < today:
            expired.append(
                f"{entry['pattern']} (owner {entry['owner']}, expired {entry['expires']})"
            )
            continue
        rules.append(re.compile(str(entry["pattern"])))
    if expired:
        gate.measure("expired_ignores", expired)
    return rules


def _scan(
    gate: GateRecorder, path: Path, since: datetime, until: datetime | None, count_access: bool
) -> LogScan:
    try:
        scan = scan_file(
            path,
            since=since.strftime(LOG_TIME),
            until=until.strftime(LOG_TIME) if until else None,
            ignore=_ignore_rules(gate),
            count_access=count_access,
        )
    except OSError as exc:
        gate.error("log_source_unavailable", f"{path}: cannot read ({exc.strerror})")
    gate.measure("bytes_read", scan.bytes_read)
    if scan.bytes_read == 0:
        gate.error("log_source_unavailable", f"{path}: empty (an empty log is never a pass)")
    if scan.records_seen == 0:
        gate.error("log_source_unavailable", f"{path}: no Odoo log record in it")
    if scan.rotated:
        gate.error(
            "log_source_unavailable", f"{path}: rotated while being read; run the gate again"
        )
    return scan


@pytest.mark.gate("logs.no_errors", severity="critical")
def test_no_errors(ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_since: datetime) -> None:
    path = _source(ipai_gate, ipai_config)
    scan = _scan(ipai_gate, path, ipai_since, None, count_access=False)
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
    ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_since: datetime
) -> None:
    window = float(ipai_gate.params.get("window_minutes", 10))
    min_samples = int(ipai_gate.params.get("min_samples", 20))
    limit = float(ipai_gate.params.get("max_rate", 0.05))
    path = _source(ipai_gate, ipai_config)
    until = ipai_since + timedelta(minutes=window)
    scan = _scan(ipai_gate, path, ipai_since, until, count_access=True)
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
