"""Progress of a run: one line per gate as it finishes, and where the pack went.

Coloured on a terminal; plain text (no escape codes) when output is not a terminal or the
``CI`` variable is set, so CI logs stay readable.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ..core.results import GateResult
from .state import gate_payload

_COLOURS = {
    "pass": {"green": True},
    "fail": {"red": True, "bold": True},
    "error": {"red": True, "bold": True},
    "not_run": {"red": True},
    "inconclusive": {"yellow": True},
    "skipped": {"yellow": True},
    "waived": {"yellow": True},
}


class Progress:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.mode = config.getoption("ipai_progress")
        self.total = 0
        self.done = 0

    @property
    def reporter(self) -> Any:
        # Looked up late: the terminal reporter registers after our pytest_configure.
        return self.config.pluginmanager.get_plugin("terminalreporter")

    @property
    def colour(self) -> bool:
        reporter = self.reporter
        tty = bool(reporter is not None and reporter.isatty)
        return tty and not os.environ.get("CI") and self.mode == "auto"

    @property
    def active(self) -> bool:
        return self.mode != "off" and self.reporter is not None

    def expect(self, total: int) -> None:
        self.total = total

    def note(self, text: str) -> None:
        if self.reporter is not None:
            self.reporter.write_line(f"ipai: {text}")

    def gate_done(self, result: GateResult) -> None:
        self.done += 1
        if not self.active:
            return
        width = len(str(max(self.total, self.done)))
        count = f"[{self.done:>{width}}/{max(self.total, self.done)}]"
        status = f"{result.status.upper():<12}"
        tail = f" ({result.error_class})" if result.error_class else ""
        line = f"{count} {status} {result.gate_id}{tail} {result.duration:.2f}s"
        reporter = self.reporter
        reporter.ensure_newline()
        if self.colour:
            reporter.write(f"{count} ")
            reporter.write(status, **_COLOURS.get(result.status, {}))
            reporter.write(f" {result.gate_id}{tail} {result.duration:.2f}s\n")
        else:
            reporter.write_line(line)

    def finished(self, pack: Path, code: int) -> None:
        if self.reporter is not None:
            self.reporter.ensure_newline()
            self.reporter.write_line(f"ipai: evidence pack {pack} (exit {code})")


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """With --ipai-progress, our per-gate lines replace pytest's letters for gate checks."""
    if config.getoption("ipai_progress", "off") == "off" or gate_payload(report) is None:
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
