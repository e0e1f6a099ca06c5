"""Where Odoo's log comes from (a file, or a container's output through the engine) and the
run's one bounded read of it, shared by the log, HTTP and assets gates."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_ipai.config.policy import Policy
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.memo import RunMemo
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.engine import (
    DEFAULT_ENGINE,
    EngineError,
    engine,
    log_chunks,
    service_containers,
)
from pytest_ipai.probes.odoo_log_file import scan_file
from pytest_ipai.probes.odoo_logs import LogScan, merge, scan_chunks

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


def ignore_rules(gate: GateRecorder) -> list[re.Pattern[str]]:
    """Known noise, each with an owner and an expiry; an expired entry no longer hides anything."""
    rules, expired, malformed = _ignore_list(gate.params)
    if malformed:
        gate.error(
            "ignore_list_invalid",
            "each ignore entry needs pattern (a regular expression), owner and expires",
        )
    if expired:
        gate.measure("expired_ignores", expired)
    return rules


def _ignore_list(params: dict[str, Any]) -> tuple[list[re.Pattern[str]], list[str], bool]:
    """(the patterns in force, the expired entries, whether an entry is malformed): the gate
    that owns the list reports the last two; the run's shared read only takes the first."""
    rules: list[re.Pattern[str]] = []
    expired: list[str] = []
    malformed = False
    today = datetime.now().date().isoformat()
    for entry in params.get("ignore", []):
        if not isinstance(entry, dict) or not {"pattern", "owner", "expires"} <= set(entry):
            malformed = True
        elif str(entry["expires"]) < today:
            expired.append(
                f"{entry['pattern']} (owner {entry['owner']}, expired {entry['expires']})"
            )
        else:
            try:
                rules.append(re.compile(str(entry["pattern"])))
            except re.error:
                malformed = True
    return rules, expired, malformed


def _params(policy: Policy, gate_id: str) -> dict[str, Any]:
    gate = policy.gates.get(gate_id)
    return dict(gate.params) if gate is not None else {}


def read_odoo_log(
    gate: GateRecorder,
    config: StackConfig,
    policy: Policy,
    memo: RunMemo,
    since: datetime,
    own_ignore: bool = True,
) -> LogScan:
    """The log gates' way in: the configured source, the gate's own ignore list (checked and
    reported on the gate) unless ``own_ignore`` is off, and the run's shared read."""
    source = log_source(gate, config)
    rules = ignore_rules(gate) if own_ignore else None
    return run_log_scan(gate, config, policy, memo, source, since, rules)


def run_log_scan(
    gate: GateRecorder,
    config: StackConfig,
    policy: Policy,
    memo: RunMemo,
    source: Path | str,
    since: datetime,
    ignore: list[re.Pattern[str]] | None = None,
) -> LogScan:
    """The run's one read of Odoo's log: error records after ``since`` (logs.no_errors' ignore
    list applied) and access lines in http.error_rate's window, read by whichever log gate
    comes first and shared with the others through the run's memo. A gate with an ignore list
    of its own (``ignore``, when it differs) reads the log itself."""
    rules, _expired, _malformed = _ignore_list(_params(policy, "logs.no_errors"))
    if ignore is not None and [r.pattern for r in ignore] != [r.pattern for r in rules]:
        own = _read(gate, config, source, since, None, False, ignore, None)
        return _judged(gate, source, own)
    minutes = float(_params(policy, "http.error_rate").get("window_minutes", 10))
    until = since + timedelta(minutes=minutes)
    key = json.dumps(
        ["odoo-log", str(source), since.isoformat(), [r.pattern for r in rules], until.isoformat()]
    )

    def read() -> LogScan:
        return _read(gate, config, source, since, None, True, rules, until)

    return _judged(gate, source, memo.get(key, read))


def _read(
    gate: GateRecorder,
    config: StackConfig,
    source: Path | str,
    since: datetime,
    until: datetime | None,
    count_access: bool,
    rules: list[re.Pattern[str]],
    access_until: datetime | None,
) -> LogScan:
    window: dict[str, Any] = {
        "since": since.strftime(LOG_TIME),
        "until": until.strftime(LOG_TIME) if until else None,
        "ignore": rules,
        "count_access": count_access,
        "redact": gate.redactor.text,  # it pickles: a big log is scanned by several processes
        "access_until": access_until.strftime(LOG_TIME) if access_until else None,
    }
    if isinstance(source, Path):
        try:
            return scan_file(source, **window)
        except OSError as exc:
            why = exc.strerror or str(exc)
            gate.error("log_source_unavailable", f"{source}: cannot read ({why})")
    return _scan_container(gate, config, source, since, window)


def _judged(gate: GateRecorder, source: Path | str, scan: LogScan) -> LogScan:
    """A read that saw nothing, or a log rotated under it, is never a pass."""
    name = str(source) if isinstance(source, Path) else f"container output of service {source}"
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
                scan = merge(scan, part)
            return scan
    except EngineError as exc:
        gate.error(getattr(exc, "error_class", "log_source_unavailable"), exc.message)
