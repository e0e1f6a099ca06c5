"""Accepted findings in detect-secrets' ``.secrets.baseline`` format: accepted only with a
reason (or an audit verdict), written by ``ipai secrets baseline``, refused by name when
malformed. The ``detect-secrets`` command line is the real one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import run_ipai, run_suite
from gitrepo import commit_all, make_repo

from pytest_ipai.rules.secret_baseline import load_baseline
from pytest_ipai.rules.secret_scan import scan_secrets

LEAKS = {
    "tests/fixtures/.env": "DB_PASSWORD=fixture-Pw-123\n",
    "deploy/.env": "SMTP_PASSWORD=relay-Pr0d-77\n",
}


def _detect_secrets(repo: Path, *args: str) -> str:
    command = [sys.executable, "-m", "detect_secrets", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True,
                          timeout=120).stdout  # fmt: skip


def test_an_entry_accepts_only_with_a_reason_or_an_audit_verdict(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", LEAKS)
    # What a bare `detect-secrets scan` writes records what was there, not a judgement.
    (repo / ".secrets.baseline").write_text(_detect_secrets(repo, "scan"))
    baseline = load_baseline(repo)
    assert baseline.unjudged == 2 and not baseline.accepted
    assert len(scan_secrets(repo, [], baseline=baseline).findings) == 2
    document = json.loads((repo / ".secrets.baseline").read_text())
    (fixture,) = document["results"]["tests/fixtures/.env"]
    fixture["is_secret"] = False  # what `detect-secrets audit` records for a false positive
    (production,) = document["results"]["deploy/.env"]
    production["is_secret"] = True  # audited as real: still a finding
    (repo / ".secrets.baseline").write_text(json.dumps(document))
    scan = scan_secrets(repo, [], baseline=load_baseline(repo))
    assert [(f.file, f.line) for f in scan.findings] == [("deploy/.env", 1)]
    assert scan.suppressed_counts() == {"baseline (audited)": 1}


def test_ipai_secrets_baseline_records_findings_with_the_reason(demo_stack: Path) -> None:
    config = str(demo_stack / "ipai.toml")
    for name, text in LEAKS.items():
        (demo_stack / name).parent.mkdir(parents=True, exist_ok=True)
        (demo_stack / name).write_text(text)
    commit_all(demo_stack, "fixtures")
    before = run_ipai("secrets", "scan", "--config", config)
    assert before.returncode == 1, before.stderr
    assert "Assigned Secret at deploy/.env:1" in before.stdout
    assert "relay-Pr0d-77" not in before.stdout + before.stderr
    wrote = run_ipai("secrets", "baseline", "--config", config, "--reason", "test fixtures")
    assert wrote.returncode == 0, wrote.stderr
    assert "2 finding(s) accepted" in wrote.stdout
    entries = json.loads((demo_stack / ".secrets.baseline").read_text())["results"]
    assert {e["reason"] for es in entries.values() for e in es} == {"test fixtures"}
    again = run_ipai("secrets", "baseline", "--config", config, "--reason", "other")
    assert "0 finding(s) accepted" in again.stdout  # a recorded reason is never overwritten
    commit_all(demo_stack, "baseline")
    after = run_ipai("secrets", "scan", "--config", config)
    assert after.returncode == 0, after.stdout
    assert "0 finding(s); suppressed: 2 baseline" in after.stdout
    result = run_suite(demo_stack, "predeploy")[1]["secrets.none_committed"]
    assert result["status"] == "pass"
    assert result["measurements"]["suppressed"] == {"baseline": 2}


def test_a_malformed_baseline_is_named_and_fails_closed(demo_stack: Path) -> None:
    (demo_stack / ".secrets.baseline").write_text('{"results": {"deploy/.env": [{"line": 1}]}}')
    commit_all(demo_stack, "bad baseline")
    proc = run_ipai("secrets", "scan", "--config", str(demo_stack / "ipai.toml"))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        ".secrets.baseline: results.deploy/.env[0]: expected an entry with a hashed_secret string"
    )
    assert "Traceback" not in proc.stderr
    result = run_suite(demo_stack, "predeploy")[1]["secrets.none_committed"]
    assert (result["status"], result["error_class"]) == ("error", "baseline_invalid")
