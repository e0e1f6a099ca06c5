"""How a check says what it found. A plain ``assert`` is a failure too (error class
``assertion_failed``); any other exception means the check could not look: an ``error``."""

from __future__ import annotations


class GateOutcome(Exception):
    status = "error"

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


class GateFailure(GateOutcome, AssertionError):
    """The gate looked and the stack is not right."""

    status = "fail"


class GateError(GateOutcome):
    """The gate could not look (a probe, tool or input failed): never a pass."""

    status = "error"


class GateInconclusive(GateOutcome):
    """The gate looked but saw too little to judge (e.g. fewer requests than min_samples)."""

    status = "inconclusive"
