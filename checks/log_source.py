"""Where Odoo's log comes from (a file, or a container's output through the engine) and one
bounded scan of it over a window; shared by the log and HTTP gates."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.engine import (
    DEFAULT_ENGINE,
    EngineError,
    engine,
    log_chunks,
    service_containers,
)
from pytest_ipai.probes.odoo_logs import MAX_SAMPLES, LogScan, scan_chunks, scan_file

LOG_TIME = "%Y-%m-%d %H:%M:%S"


def log_source(gate: GateRecorder, config: StackConfig) -> Path | str:
    """The log file's path, or the name of the service whose container output is the log."""
    source = config.env.raw.get("log_source")
    if not source:
        gate.error("log_source_unavailable", f"environments.{config.env.name}.log_source: not set")
    if "container" in source:
        return str(source["container"])
    path: Path = (config.base_dir / str(source["file"])).resolve()
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


def scan_log(
    gate: GateRecorder,
    config: StackConfig,
    source: Path | str,
    since: datetime,
    until: datetime | None,
    count_access: bool,
) -> LogScan:
    window: dict[str, Any] = {
        "since": since.strftime(LOG_TIME),
        "until": until.strftime(LOG_TIME) if until else None,
        "ignore": _ignore_rules(gate),
        "count_access": count_access,
        "redact": gate.redact,
    }
    if isinstance(source, Path):
        name = str(source)
        try:
            scan = scan_file(source, **window)
        except OSError as exc:
            gate.error("log_source_unavailable", f"{source}: cannot read ({exc.strerror})")
    else:
        name = f"container output of service {source}"
        scan = _scan_container(gate, config, source, since, window)
    gate.measure("bytes_read", scan.bytes_read)
    if scan.bytes_read == 0:
        gate.error("log_source_unavailable", f"{name}: empty (an empty log is never a pass)")
    if scan.records_seen == 0:
        gate.error("log_source_unavailable", f"{name}: no Odoo log record in it")
    if scan.rotated:
        gate.error(
            "log_source_unavailable", f"{name}: rotated while being read; run the gate again"
        )
    return scan


def _scan_container(
    gate: GateRecorder, config: StackConfig, service: str, since: datetime, window: dict[str, Any]
) -> LogScan:
    env = config.env.raw
    address = str(env.get("engine_socket", DEFAULT_ENGINE))
    try:
        with engine(address, float(gate.params.get("timeout", 10))) as client:
            containers = service_containers(client, service, env.get("compose_project"))
            if not containers:
                gate.error("log_source_unavailable", f"service {service}: no container")
            scan = LogScan()
            for container in containers:  # replicas: every one's output counts
                part = scan_chunks(log_chunks(container, since), **window)
                scan = _merge(scan, part)
            return scan
    except EngineError as exc:
        gate.error(getattr(exc, "error_class", "log_source_unavailable"), exc.message)


def _merge(total: LogScan, part: LogScan) -> LogScan:
    total.bytes_read += part.bytes_read
    total.records_seen += part.records_seen
    total.errors += part.errors
    total.out_of_window += part.out_of_window
    total.ignored += part.ignored
    total.samples += part.samples[: max(0, MAX_SAMPLES - len(total.samples))]
    for fingerprint, count in part.fingerprints.items():
        total.fingerprints[fingerprint] = total.fingerprints.get(fingerprint, 0) + count
    total.access_total += part.access_total
    total.access_5xx += part.access_5xx
    total.access_excluded += part.access_excluded
    return total
