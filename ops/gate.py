"""``ipai gate SUITE``: run a suite through pytest and print its table.

This process supervises the run: if pytest dies, the gates it journaled are recovered into a
pack, the gate that was running an ``error`` (``process_died``) with its id. With xdist workers
(``-n N``), a check that crashes takes down its worker only: the controller names the gate
(``worker_crashed``) and publishes the pack. Either way a crash ends the run and the gates not
run yet are ``not_run``: never a pass, never a hang.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import EXIT_USAGE, IpaiError, ToolError
from pytest_ipai.core.proc import run, stream
from pytest_ipai.core.redact import Redactor
from pytest_ipai.evidence.attest import load_pack_signer
from pytest_ipai.evidence.pack import Staging, new_run_id
from pytest_ipai.evidence.publish import recover

from . import tables
from .console import write_through

SUITE_TIMEOUT = 6 * 3600.0
MESSAGE_LINES = 3  # under a row that did not pass, this many lines of its message
MESSAGE_WIDTH = 160
NOT_PASSED = ("fail", "error", "not_run", "inconclusive")
MAX_WORKERS = 64  # each worker is a Python process with the whole plugin: more is never faster


def pytest_argv(
    suite: str,
    config: StackConfig,
    run_id: str,
    report_to: Path,
    workers: int,
    evidence_root: Path,
    extra: list[str],
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        # Only the plugins the suite needs (autoload is off, see run_suite): a gate's verdict
        # must not depend on which other pytest plugins happen to be installed on the host.
        *("-p", "xdist.plugin", "-p", "xdist.looponfail", "-p", "pytest_timeout"),
        *("-p", "testinfra.plugin", "-p", "pytest_ipai.plugin"),
        "-m",
        suite,
        "--ipai-suite",
        suite,
        "--ipai-config",
        str(config.file),
        "--ipai-env",
        config.env.name,
        "--ipai-run-id",
        run_id,
        "--ipai-evidence-root",
        str(evidence_root),
        "--ipai-progress",
        "auto",
        "--ipai-report-to",
        str(report_to),
        "-n",
        str(workers),
        "--dist",
        "loadgroup",  # a host's checks run on one worker (xdist_group)
        # A crashed worker is not replaced: under loadgroup, pytest-xdist 3.8 hangs for good
        # when it replaces one (pytest-xdist#1323, #1327). The crashed gate is an error with
        # its id, the gates not run yet are not_run: the run ends, it never hangs.
        "--max-worker-restart",
        "0",
        "-p",
        "no:cacheprovider",  # never write .pytest_cache into the stack repository
        # Checks state their verdicts through the recorder, never with a bare assert, so
        # pytest's assertion rewriting (0.1 s of compiling per process) buys nothing.
        "--assert=plain",
        "-q",
        "--no-header",
        "-o",
        "console_output_style=classic",
        "--tb=no",  # the table and the pack hold the details (-- --tb=short shows them)
        "-rN",
        *extra,
    ]


def default_workers(suite: str) -> int:
    """The pre-deploy suite is CPU work over one tree its gates share, on files in a
    repository: it runs fastest in this one pytest process (a worker costs an interpreter,
    pytest and the checks again: 0.3-0.4 s, measured by bench/bench_predeploy.py), and a crash
    there is still recovered with its gate named. Other suites talk to a running stack and
    mostly wait on it: two workers overlap that waiting, where the machine has two CPUs, and
    keep a check that crashes in a probe away from the controller that writes the evidence."""
    if suite == "predeploy":
        return 0
    return max(1, min(2, os.cpu_count() or 1))


def check_workers(workers: int) -> None:
    if not 0 <= workers <= MAX_WORKERS:
        raise IpaiError(f"--workers: must be 0 (no xdist worker) to {MAX_WORKERS}")


def run_suite(
    suite: str, config: StackConfig, *, workers: int, evidence_root: Path, extra: list[str]
) -> tuple[Path | None, int]:
    """Run the suite; return the published pack and the exit code (0, 1 or 2)."""
    run_id = new_run_id()
    with tempfile.TemporaryDirectory(prefix="ipai-gate-") as tmp:
        report_to = Path(tmp) / "report.json"
        argv = pytest_argv(suite, config, run_id, report_to, workers, evidence_root, extra)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        if sys.stdout.isatty():  # a terminal keeps pytest's colours; nobody closes it on us
            status = run(argv, timeout=SUITE_TIMEOUT, cwd=config.base_dir, env=env, capture=False)
            returncode = status.returncode
        else:
            # Through our pipe: a reader that stops early (| head) must not stop the suite.
            returncode = stream(
                argv, timeout=SUITE_TIMEOUT, sink=write_through, cwd=config.base_dir, env=env
            )
        if report_to.is_file():
            data: dict[str, Any] = json.loads(report_to.read_text())
            if data["pack"] is None:
                return None, int(data["exit_code"])  # pytest said why (a full disk), once
            return Path(data["pack"]), int(data["exit_code"])
    # pytest ended without publishing: recover what it journaled, if it got that far.
    staging = Staging(evidence_root, run_id, create=False)
    code = EXIT_USAGE if returncode in (2, 3, 4) else 1
    if (staging.path / "session.json").is_file():
        pack = recover(staging, staging.session(), exit_code=code, signer=load_pack_signer(config))
        # Said out loud: a run that ended this way reads like failed gates otherwise.
        print(
            f"ipai: pytest ended with status {returncode} without publishing its pack; "
            f"its journal was recovered into {pack}",
            file=sys.stderr,
        )
        return pack, code
    if returncode == 0:
        raise ToolError("pytest exited 0 but wrote no evidence pack")
    return None, EXIT_USAGE


def not_passed(pack: Path | None) -> str:
    """``: gate status (class), ...`` for the gates of a pack that did not pass, for a one-line
    message; empty when there is no pack or every gate passed."""
    if pack is None or not (pack / "results.json").is_file():
        return ""
    try:
        document = json.loads((pack / "results.json").read_text("utf-8"))
        results = [r for r in document["results"] if r["status"] != "pass"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    if not results:
        interrupted = " (interrupted)" if document.get("interrupted") else ""
        return f": every gate passed{interrupted}"
    shown = [f"{r['gate_id']} {r['status']} ({r.get('error_class') or '-'})" for r in results[:5]]
    return ": " + ", ".join(shown) + (f" and {len(results) - 5} more" if len(results) > 5 else "")


def table(pack: Path, secrets: list[str] | None = None) -> str:
    """The results as a table; under each gate that did not pass, the first lines of its message
    (where, which module, expected vs actual), capped and redacted once more."""
    document = json.loads((pack / "results.json").read_text("utf-8"))
    redactor = Redactor(secrets or [])
    results = sorted(document["results"], key=lambda r: r["gate_id"])
    rows = [("GATE", "STATUS", "ERROR CLASS", "DURATION")]
    for result in results:
        rows.append(
            (
                result["gate_id"],
                result["status"],
                result["error_class"] or "-",
                f"{result['duration']:.2f}s",
            )
        )
    rendered = tables.render(rows)
    lines = rendered[:1]
    for result, line in zip(results, rendered[1:], strict=True):
        lines.append(line)
        if result["status"] in NOT_PASSED and result.get("message"):
            lines += [f"    {text}" for text in message_lines(redactor.text(result["message"]))]
    counts = ", ".join(f"{n} {s}" for s, n in document["summary"].items() if n)
    lines.append(f"{len(document['results'])} gates: {counts or 'none'}")
    return "\n".join(lines)


def message_lines(message: str) -> list[str]:
    """The message wrapped at MESSAGE_WIDTH, at most MESSAGE_LINES lines; a cut is said."""
    wrapped = [
        part
        for line in message.splitlines()
        if line.strip()
        for part in textwrap.wrap(line, MESSAGE_WIDTH, break_on_hyphens=False)
    ]
    shown = wrapped[:MESSAGE_LINES]
    if len(wrapped) > MESSAGE_LINES:
        shown.append("(the rest is in results.json)")
    return shown
