"""A full evidence disk never strands a run: one line, exit 2, the staging kept, and once there
is space `ipai evidence recover` publishes the pack the run would have published.

The disk is a real tmpfs mounted for the test, filled by its inode limit (which, unlike bytes,
a run uses in a fixed number: a few folders and files, one per blob)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import load, only_pack, run_ipai

from pytest_ipai.evidence.journal import read_entries
from pytest_ipai.evidence.ledger import read_ledger
from pytest_ipai.evidence.publish import recover_all


def mount_tmpfs(target: Path, inodes: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    options = f"size=64m,nr_inodes={inodes},mode=755"
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], check=True, timeout=30
    )


def remount(target: Path, inodes: int) -> None:
    options = f"remount,nr_inodes={inodes}"
    subprocess.run(["mount", "-o", options, str(target)], check=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    """A tmpfs under tmp_path; mounted by the test (with the inode limit it needs), always
    unmounted after it, even when the test failed half-way."""
    target = tmp_path / "disk"
    mounted: list[Path] = []

    def mount(inodes: int) -> Path:
        mount_tmpfs(target, inodes)
        mounted.append(target)
        return target

    try:
        yield target, mount
    finally:
        for path in mounted:
            subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def reference_blobs(demo_stack: Path, tmp_path: Path) -> int:
    """How many blobs the demo's pre-deploy run writes (a reference run on a roomy disk)."""
    proc = gate(demo_stack, tmp_path / "reference")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return len(list((only_pack(tmp_path / "reference") / "blobs").iterdir()))


def gate(demo_stack: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return run_ipai(
        "gate", "predeploy", "--config", str(demo_stack / "ipai.toml"), "--evidence-root", str(root)
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "INTERNALERROR" not in proc.stdout + proc.stderr
    return lines[0]


def test_a_full_disk_at_publication_is_one_line_and_recoverable(
    demo_stack: Path, tmp_path: Path, small_disk: tuple[Path, Any]
) -> None:
    blobs = reference_blobs(demo_stack, tmp_path)
    # Room for the run (root, .staging, its folder, blobs/, session, journal, each blob) and a
    # little more, far less than the ~30 files a publication adds.
    disk, mount = small_disk
    mount(6 + blobs + 4)
    line = one_error_line(gate(demo_stack, disk))
    assert line.startswith(f"ipai: error: {disk}: no space left to publish run ")
    assert line.endswith("`ipai evidence recover` publishes it once there is space")
    (staged,) = list((disk / ".staging").iterdir())
    assert (staged / "session.json").is_file()  # the session record goes last, so it is here
    assert [e["kind"] for e in read_entries(staged / "journal.jsonl")][-1] == "finish"
    assert not list(disk.glob("2*/*"))

    # Still full: recovery says so in one line and keeps everything.
    still = run_ipai("evidence", "recover", "--evidence-root", str(disk))
    assert one_error_line(still).startswith(f"ipai: error: {disk}: no space left to publish")
    assert (staged / "session.json").is_file()

    remount(disk, 10_000)
    proc = run_ipai("evidence", "recover", "--evidence-root", str(disk))
    assert proc.returncode == 0, proc.stderr
    pack = only_pack(disk)
    assert proc.stdout.splitlines()[0] == f"recovered: {pack}"
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0
    document = load(pack)
    # The run's verdict as it ended (every gate passed), not an interrupted run.
    assert (document["exit_code"], document["interrupted"]) == (0, False)
    assert [e["pack"] for e in read_ledger(disk)] == [pack.relative_to(disk).as_posix()]


def test_a_full_disk_mid_run_stops_the_suite_and_is_recovered_as_interrupted(
    demo_stack: Path, small_disk: tuple[Path, Any]
) -> None:
    disk, mount = small_disk
    mount(10)
    line = one_error_line(gate(demo_stack, disk))
    assert line.startswith(f"ipai: error: {disk}: no space left to journal run ")
    remount(disk, 10_000)
    assert run_ipai("evidence", "recover", "--evidence-root", str(disk)).returncode == 0
    pack = only_pack(disk)
    document = load(pack)
    # A run that could not finish is never a pass: the gates it never reached are not_run.
    assert document["interrupted"] is True and document["exit_code"] == 1
    assert document["summary"]["not_run"] > 0
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0


def test_recovery_takes_any_staged_run_and_skips_junk_with_a_warning(tmp_path: Path) -> None:
    from test_pack_publish import manifest, result

    from pytest_ipai.evidence.pack import Staging, host_name

    root = tmp_path / "evidence"
    (root / ".staging" / "-junk").mkdir(parents=True)  # blocked every recovery before
    (root / ".staging" / "stray-file").write_text("x")
    staging = Staging(root, "run-died")
    here = dict(manifest("run-died"), host=host_name())
    staging.write_session({"manifest": here, "expected": [], "pid": 1 << 22})
    staging.journal.append("start", {"run_id": "run-died", "expected": []})
    staging.record(result("demo.one"))
    staging.close()
    os.rename(staging.path, root / ".staging" / "renamed by hand")  # any name with a journal
    packs, warnings = recover_all(root)
    assert len(packs) == 1 and load(packs[0])["run_id"] == "run-died"
    assert sorted(w.split(": ", 1)[1] for w in warnings) == [
        "not a staged run (no journal); left alone",
        "not a staged run (no journal); left alone",
    ]
    # A pack that died after every gate passed is still not a success.
    assert load(packs[0])["exit_code"] == 1
    proc = run_ipai("evidence", "recover", "--evidence-root", str(root))
    assert proc.returncode == 0
    assert proc.stderr.count("ipai: warning:") == 2
    assert json.loads((packs[0] / "results.json").read_text())["interrupted"] is True
