"""Accepted findings, in detect-secrets' ``.secrets.baseline`` format: ``results`` maps each
file to entries with ``type``, ``hashed_secret`` and ``line_number``. An entry accepts its
finding when it says why: a ``reason`` (written by ``ipai secrets baseline``) or
``is_secret: false`` (a ``detect-secrets audit`` verdict). An entry with neither accepts
nothing: a baseline written by a bare ``detect-secrets scan`` records what was there, not that
anyone judged it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detect_secrets.__version__ import VERSION

from ..core.errors import ConfigError
from ..core.fsio import write_json_atomic
from ..core.textfile import read_json
from .secret_detectors import plugin_names

DEFAULT_NAME = ".secrets.baseline"


@dataclass
class Baseline:
    name: str  # repository-relative: the baseline file itself is never scanned
    document: dict[str, Any] = field(default_factory=dict)
    accepted: dict[tuple[str, str], str] = field(default_factory=dict)  # (file, hash) -> why
    unjudged: int = 0  # entries without a reason or an audit verdict

    @classmethod
    def empty(cls, name: str = DEFAULT_NAME) -> Baseline:
        return cls(name)

    def accepts(self, file: str, hashed: str) -> str | None:
        """The suppression reason for a finding the baseline accepts, else None."""
        return self.accepted.get((file, hashed))


def baseline_name(value: object) -> str:
    """``params.baseline``: a path inside the repository."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise ConfigError("params.baseline: expected a file name inside the repository")
    if value.startswith("/") or ".." in Path(value).parts:
        raise ConfigError(f"params.baseline: {value!r} is not inside the repository")
    return value


def load_baseline(repo: Path, name: str = DEFAULT_NAME) -> Baseline:
    """The repository's baseline; none at ``name`` is an empty one. A malformed one is a
    ConfigError naming the file and the key."""
    path = repo / name
    if not path.exists() and not path.is_symlink():
        return Baseline.empty(name)
    data = read_json(path, "secrets baseline", ConfigError)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict):
        raise ConfigError(f"{path}: results: expected an object of file -> entries")
    baseline = Baseline(name, data)
    for file, entries in results.items():
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: results.{file}: expected a list of entries")
        for index, entry in enumerate(entries):
            where = f"{path}: results.{file}[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("hashed_secret"), str):
                raise ConfigError(f"{where}: expected an entry with a hashed_secret string")
            reason = entry.get("reason")
            if reason is not None and not (isinstance(reason, str) and reason.strip()):
                raise ConfigError(f"{where}.reason: expected a non-empty string")
            if reason:
                baseline.accepted[(file, entry["hashed_secret"])] = "baseline"
            elif entry.get("is_secret") is False:
                baseline.accepted[(file, entry["hashed_secret"])] = "baseline (audited)"
            elif entry.get("is_secret") is not True:
                baseline.unjudged += 1
    return baseline


def write_baseline(
    repo: Path, baseline: Baseline, findings: list[tuple[str, int, str, str]], reason: str
) -> int:
    """Record ``findings`` (file, line, type, hashed_secret) not yet accepted, each with
    ``reason``; entries already there keep theirs. Returns how many were added."""
    document: dict[str, Any] = json.loads(json.dumps(baseline.document)) or {}
    document.setdefault("version", VERSION)
    # The detect-secrets plugins this scan uses, so its own tools read the file alike; ours
    # (Assigned Secret, DSN Password) are not loadable by name there.
    document.setdefault("plugins_used", [{"name": name} for name in plugin_names()])
    document.setdefault("filters_used", [])
    results: dict[str, list[dict[str, Any]]] = document.setdefault("results", {})
    added = 0
    for file, line, kind, hashed in findings:
        entries = results.setdefault(file, [])
        same = [e for e in entries if e.get("hashed_secret") == hashed and e.get("type") == kind]
        if same and any(e.get("reason") for e in same):
            continue
        for entry in same:
            entry["reason"] = reason
        if not same:
            entry = {"type": kind, "filename": file, "hashed_secret": hashed}
            entries.append({**entry, "is_verified": False, "line_number": line, "reason": reason})
        added += 1
    document["results"] = {name: results[name] for name in sorted(results)}
    document["generated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_json_atomic(repo / baseline.name, document)
    return added
