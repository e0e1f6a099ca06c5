"""``ipai gate``: the table, the pack, exit codes, progress lines; and the oca.repos_present gate
on real git checkouts."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import IPAI, by_gate, only_pack, run_ipai

from pytest_ipai.config.resources import checks_dir


def gate(
    stack: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_ipai("gate", "predeploy", "--config", str(stack / "ipai.toml"), *extra, env=env)


def test_demo_stack_passes_with_table_pack_and_verification(demo_stack: Path) -> None:
    proc = gate(demo_stack, "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("GATE"))
    assert lines[header].split() == ["GATE", "STATUS", "ERROR", "CLASS", "DURATION"]
    rows = [
        line.split()[:3] for line in lines[header + 1 :] if line.split() and "." in line.split()[0]
    ]
    assert ["oca.repos_present", "pass", "-"] in rows
    assert all(row[1] == "pass" for row in rows)
    assert len(rows) >= 6
    pack = only_pack(demo_stack / "evidence")
    assert f"pack: {pack}" in lines
    assert "verify: ok" in lines
    manifest = (pack / "manifest.json").read_text()
    assert '"dirty": false' in manifest
    assert '"branch": "main"' in manifest
    # The run left the stack repository clean: no cache, no bytecode, no stray files.
    status = subprocess.run(
        ["git", "-C", str(demo_stack), "status", "--porcelain"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert status.stdout == ""


def test_missing_repo_fails_with_count_and_name(demo_stack: Path) -> None:
    shutil.rmtree(demo_stack / "addons" / "oca" / "web")
    proc = gate(demo_stack)
    assert proc.returncode == 1
    result = by_gate(only_pack(demo_stack / "evidence"))["oca.repos_present"]
    assert (result["status"], result["error_class"]) == ("fail", "repo_missing")
    assert result["message"] == "2/3 present; missing: web (addons/oca/web)"
    assert result["measurements"] == {
        "repos_present": 2,
        "repos_expected": 3,
        "undeclared_addons": 0,
        "error_classes": {"repo_missing": 1},
    }
    assert any(
        line.split()[:3] == ["oca.repos_present", "fail", "repo_missing"]
        for line in proc.stdout.splitlines()
    )


def test_plain_folder_is_not_a_checkout(demo_stack: Path) -> None:
    shutil.rmtree(demo_stack / "addons" / "oca" / "queue" / ".git")
    proc = gate(demo_stack)
    assert proc.returncode == 1
    result = by_gate(only_pack(demo_stack / "evidence"))["oca.repos_present"]
    assert result["error_class"] == "repo_not_git"
    assert result["message"].startswith(
        "2/3 present; not git: queue (addons/oca/queue: inside the git work tree"
    )


def test_invalid_addons_manifest_is_an_error_not_a_pass(demo_stack: Path) -> None:
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    manifest.write_text(manifest.read_text().replace('"path": "addons/oca/web", ', ""))
    proc = gate(demo_stack)
    assert proc.returncode == 1
    result = by_gate(only_pack(demo_stack / "evidence"))["oca.repos_present"]
    assert (result["status"], result["error_class"]) == ("error", "addons_manifest_invalid")
    assert result["message"].endswith(
        "addons_manifest.oca_ipai.json: oca_repositories[2].path: required key is missing"
    )


def test_unknown_suite_is_a_usage_error(demo_stack: Path) -> None:
    proc = run_ipai("gate", "nightly", "--config", str(demo_stack / "ipai.toml"))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "ipai: error: suite nightly: not in the policy (postdeploy, predeploy)"
    )


def test_progress_lines_are_plain_in_ci(demo_stack: Path) -> None:
    proc = gate(demo_stack, env=dict(os.environ, CI="true"))
    assert proc.returncode == 0
    assert re.search(r"^\[ ?\d+/12\] PASS +oca\.repos_present \d+\.\d\ds$", proc.stdout, re.M)
    assert "\x1b[" not in proc.stdout


@pytest.mark.parametrize("ci", [False, True], ids=["terminal", "terminal-with-CI"])
def test_progress_is_coloured_only_on_a_terminal_outside_ci(demo_stack: Path, ci: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "1"
    env["TERM"] = "xterm"
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [*IPAI, "gate", "predeploy", "--config", str(demo_stack / "ipai.toml")],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    output = b"".join(chunks).decode(errors="replace")
    assert "oca.repos_present" in output
    coloured_pass = "\x1b[32mPASS" in output
    assert coloured_pass is (not ci)


def test_gate_keeps_pytest_arguments(demo_stack: Path) -> None:
    proc = gate(demo_stack, "--", "-k", "nothing_matches_this")
    assert proc.returncode == 1  # the deselected gate is not_run: fail closed
    result = by_gate(only_pack(demo_stack / "evidence"))["oca.repos_present"]
    assert result["status"] == "not_run"
    assert sys.executable


def test_a_failed_suite_is_summed_up_by_its_gates(tmp_path: Path) -> None:
    """What ipai deploy says when the pre-deploy suite did not pass: which gates, and when every
    gate passed yet the run did not end (a recovered, interrupted pack), that too."""
    from ipai_ops.gate import not_passed

    def pack(results: list[dict[str, Any]], interrupted: bool = False) -> Path:
        (tmp_path / "results.json").write_text(
            json.dumps({"results": results, "interrupted": interrupted})
        )
        return tmp_path

    passed = {"gate_id": "git.clean", "status": "pass", "error_class": None}
    failed = {"gate_id": "oca.must_have", "status": "fail", "error_class": "must_have_not_found"}
    missing = {"gate_id": "addons.dependencies", "status": "not_run", "error_class": None}
    assert not_passed(pack([passed, failed, missing])) == (
        ": oca.must_have fail (must_have_not_found), addons.dependencies not_run (-)"
    )
    assert not_passed(pack([passed], interrupted=True)) == ": every gate passed (interrupted)"
    assert not_passed(None) == ""


CRASHING = """import os
import signal

import pytest


@pytest.mark.predeploy
@pytest.mark.gate("acme.crashes")
def test_crashes():
    os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
"""


def test_a_check_that_kills_the_process_is_an_error_for_its_gate(demo_stack: Path) -> None:
    """The pre-deploy suite runs in one pytest process: when a check takes it down, ipai
    recovers the journal into a pack, names the gate that was running, keeps the verdicts
    already journaled, and the gates after it are not_run. Never a pass, never lost."""
    (demo_stack / "crash_gate.py").write_text(CRASHING)
    (demo_stack / "policy.toml").write_text('[gates."acme.crashes"]\nsuite = "predeploy"\n')
    config = demo_stack / "ipai.toml"
    text = config.read_text().replace(
        "[environments.dev]\n", '[environments.dev]\npolicy = "policy.toml"\n'
    )
    config.write_text(text)
    proc = gate(demo_stack, "--", str(demo_stack / "crash_gate.py"), str(checks_dir()))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "pytest ended with status -9 without publishing its pack" in proc.stderr
    pack = only_pack(demo_stack / "evidence")
    results = by_gate(pack)
    crashed = results["acme.crashes"]
    assert (crashed["status"], crashed["error_class"]) == ("error", "process_died")
    assert {r["status"] for g, r in results.items() if g != "acme.crashes"} == {"not_run"}
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0
    # in a worker, the crash takes the worker only: the controller names the gate and
    # publishes; the run ends there (replacing the worker hangs pytest-xdist 3.8 for good)
    (demo_stack / "evidence").rename(demo_stack / "evidence-before")
    proc = gate(demo_stack, "-n", "1", "--", str(demo_stack / "crash_gate.py"), str(checks_dir()))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = by_gate(only_pack(demo_stack / "evidence"))
    assert results["acme.crashes"]["error_class"] == "worker_crashed"
    assert {r["status"] for g, r in results.items() if g != "acme.crashes"} == {"not_run"}
