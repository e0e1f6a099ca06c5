"""What a running check records: measurements, attempts and raw evidence (blobs).

The recorder lives in the process that runs the check (an xdist worker, say) and travels to the
controller inside the test report, so only the controller writes files.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .outcomes import GateError, GateFailure, GateInconclusive
from .redact import Redactor, redact_json_text
from .timeutil import iso, utc_now

MAX_BLOB_BYTES = 8 * 1024 * 1024
NOTICE_EXAMPLES = 20
MAX_LOCATIONS = 500
_TRUNCATED = b"\n[... truncated by pytest-ipai: blob larger than 8 MiB ...]\n"


@dataclass
class GateRecorder:
    """Everything a check hands it is redacted on the way in (``redactor``: the config's secret
    values and credential patterns), before it is cut, kept or serialised."""

    gate_id: str
    params: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    blobs: list[dict[str, Any]] = field(default_factory=list)
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    def redact(self, text: str) -> str:
        """For a check that transforms text (cuts, blanks digits) before recording it."""
        return self.redactor.text(text)

    def measure(self, name: str, value: Any, unit: str | None = None) -> None:
        value = self.redactor.data(value)
        self.measurements[name] = value if unit is None else {"value": value, "unit": unit}

    def attempt(self, outcome: str, detail: str = "", *, started: float | None = None) -> None:
        """Record one try of a probe; ``started`` is a ``time.monotonic()`` reading."""
        duration = 0.0 if started is None else max(0.0, time.monotonic() - started)
        self.attempts.append(
            {"at": iso(utc_now()), "outcome": outcome, "duration": duration,
             "detail": self.redact(detail)}
        )  # fmt: skip

    def blob(self, name: str, content: bytes | str, media_type: str = "text/plain") -> None:
        data = self._redacted(content, media_type)
        if len(data) > MAX_BLOB_BYTES:
            data = data[:MAX_BLOB_BYTES] + _TRUNCATED
        self.blobs.append(
            {"name": name, "media_type": media_type, "b64": base64.b64encode(data).decode()}
        )

    def _redacted(self, content: bytes | str, media_type: str) -> bytes:
        """JSON (by media type or by its look) is redacted value by value (a secret escaped by
        json.dumps would slip past a text search); other text as text; other bytes by the
        secrets' bytes."""
        try:
            text = content if isinstance(content, str) else content.decode("utf-8")
        except UnicodeDecodeError:
            return self.redactor.blob(content)  # type: ignore[arg-type]
        as_json = redact_json_text(text, self.redact)
        return (self.redact(text) if as_json is None else self.redact(as_json)).encode("utf-8")

    def notice(self, error_class: str, text: str) -> None:
        """Something worth knowing that does not fail the gate (what Odoo tolerates, say): counted
        per class under the ``notices`` measurement, with up to NOTICE_EXAMPLES examples each."""
        notices = self.measurements.setdefault("notices", {})
        entry = notices.setdefault(error_class, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < NOTICE_EXAMPLES:
            entry["examples"].append(self.redact(text))

    def locate(self, error_class: str, file: str, line: int, text: str) -> None:
        """A finding at a place in the stack repository (path relative to it): kept under the
        ``locations`` measurement, up to MAX_LOCATIONS, for CI annotations and SARIF."""
        located = self.measurements.setdefault("locations", [])
        if len(located) < MAX_LOCATIONS:
            located.append(
                {"class": error_class, "file": file, "line": line, "text": self.redact(text)}
            )
        else:
            self.measurements["locations_dropped"] = (
                self.measurements.get("locations_dropped", 0) + 1
            )

    def fail_findings(
        self,
        findings: list[tuple[str, str]],
        prefix: str = "",
        rank: tuple[str, ...] = (),
        suffix: str = "",
    ) -> None:
        """Fail with the most severe class found: the first of ``rank`` present, else the first
        finding's. The message lists that class's findings, then every other class with its
        count and one located example, so nothing found hides behind the first; every class's
        count is measured too. No findings: return."""
        if not findings:
            return
        order = {klass: index for index, klass in enumerate(rank)}
        ranked = sorted(findings, key=lambda f: order.get(f[0], len(order)))
        counts: dict[str, int] = {}
        examples: dict[str, str] = {}
        for error_class, text in ranked:
            counts[error_class] = counts.get(error_class, 0) + 1
            examples.setdefault(error_class, text)
        self.measure("error_classes", counts)
        # The message shows some; the pack keeps every one (a count must name what it counts).
        every = [{"class": klass, "finding": text} for klass, text in ranked]
        self.blob("findings.json", json.dumps(every, indent=1), "application/json")
        first = ranked[0][0]
        shown = [text for klass, text in ranked if klass == first]
        listing = "; ".join(shown[:10]) + (
            f"; and {len(shown) - 10} more" if len(shown) > 10 else ""
        )
        others = [
            f"{klass} ({n}), e.g. {examples[klass]}"
            for klass, n in counts.items()
            if klass != first
        ]
        tail = f" (also: {'; '.join(others)})" if others else ""
        self.fail(first, f"{prefix}{listing}{tail}{suffix}")

    def fail(self, error_class: str, message: str) -> NoReturn:
        raise GateFailure(error_class, self.redact(message))

    def error(self, error_class: str, message: str) -> NoReturn:
        raise GateError(error_class, self.redact(message))

    def inconclusive(self, message: str, error_class: str = "inconclusive") -> NoReturn:
        raise GateInconclusive(error_class, self.redact(message))

    def to_payload(self) -> dict[str, Any]:
        return {
            "measurements": self.measurements,
            "attempts": self.attempts,
            "blobs": self.blobs,
        }
