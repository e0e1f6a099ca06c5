"""Status, error class and message of one test phase, from the exception the check raised.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from ..core.outcomes import GateOutcome
from ..core.results import ERROR, FAIL, PASS, SKIPPED, WAIVED
from .state import MAX_DETAILS


def classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, Any]:
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
