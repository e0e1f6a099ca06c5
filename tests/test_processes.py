"""The process helpers hostd's runs rely on: a timeout that kills a whole process group, pids
that are not alive (zombies, reuse), killing a session, and first-writer-wins results."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ipai_ops import hostd_runs
from ipai_ops.hostd_runs import REAP_GRACE, RunStore, new_record, write_json_once

from pytest_ipai.core.errors import ToolError
from pytest_ipai.core.proc import kill_session, pid_alive, process_started, run
from pytest_ipai.core.timeutil import iso, utc_now


def spawner(marker: str = "") -> str:
    """A parent that starts a grandchild holding the same stdout, prints the grandchild's pid
    and then sleeps: only killing the whole group ends the output. ``marker`` tags the
    grandchild's command line so that a test can look for it alone."""
    return (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{marker}'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )


def test_a_group_timeout_kills_the_grandchildren_too(tmp_path: Path) -> None:
    marker = f"ipai-grandchild-{uuid.uuid4().hex}"
    started = time.monotonic()
    with pytest.raises(ToolError, match="timed out after 1s"):
        run([sys.executable, "-c", spawner(marker)], timeout=1, group=True)
    assert time.monotonic() - started < 20  # it did not wait for the grandchild's 60 s
    # Without group, the same timeout would leave the grandchild holding the pipe; with it,
    # nothing of the command's group is left.
    leftover = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, timeout=10)
    assert leftover.stdout.strip() == ""


def test_a_group_run_returns_output_and_exit_code() -> None:
    proc = run(
        [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], timeout=30, group=True
    )
    assert (proc.returncode, proc.stdout) == (3, "out\n")


def test_a_zombie_is_not_alive_and_a_reused_pid_is_told_apart() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_started(child.pid)
    assert started is not None and pid_alive(child.pid, started)  # (may already be a zombie)
    deadline = time.monotonic() + 10
    while pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child.pid)  # exited, not yet waited for: a zombie, not alive
    child.wait(5)
    me = os.getpid()
    mine = process_started(me)
    assert mine is not None
    assert pid_alive(me, mine) and not pid_alive(me, mine + 1)  # same pid, another process


def test_kill_session_kills_every_process_of_a_session() -> None:
    leader = subprocess.Popen(
        [sys.executable, "-c", spawner()], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert leader.stdout is not None
    grandchild = int(leader.stdout.readline())
    assert kill_session(leader.pid) == 2
    leader.wait(10)
    deadline = time.monotonic() + 10
    while pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(grandchild)


def test_the_first_result_wins(tmp_path: Path) -> None:
    path = tmp_path / "r.result.json"
    assert write_json_once(path, {"status": "passed"})
    assert not write_json_once(path, {"status": "error"})
    assert json.loads(path.read_text()) == {"status": "passed"}
    assert [p.name for p in tmp_path.iterdir()] == ["r.result.json"]  # no staged file left


def test_a_wrapper_that_dies_without_reporting_is_reaped_with_what_it_left(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs", ttl_seconds=600)
    record, started = store.start("doctor", [sys.executable, "-c", spawner()], None, [])
    assert started and store.get(record["run_id"])["status"] == "running"  # type: ignore[index]
    again, started = store.start("doctor", [sys.executable, "-c", "pass"], None, [])
    assert not started and again["run_id"] == record["run_id"]  # single flight
    members: list[str] = []
    deadline = time.monotonic() + 10
    while len(members) < 3 and time.monotonic() < deadline:  # wrapper, action, its child
        time.sleep(0.1)
        members = subprocess.run(
            ["pgrep", "-s", str(record["pid"])], capture_output=True, text=True, timeout=10
        ).stdout.split()
    assert len(members) == 3, members
    os.kill(record["pid"], 9)  # the wrapper alone dies; its action lives on in its session
    deadline = time.monotonic() + 10
    while (found := store.get(record["run_id"])) and found["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert found is not None
    assert (found["status"], found["error_class"]) == ("error", "reaped")
    assert "died" in found["summary"]
    # The orphaned action and its child were killed with the run (SIGKILL lands at once, the
    # dead wait for their reaper: not alive is what counts).
    deadline = time.monotonic() + 10
    while any(pid_alive(int(pid)) for pid in members) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(int(pid)) for pid in members)


def test_a_finished_run_reports_its_result(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs", ttl_seconds=600)
    argv = [sys.executable, "-c", "import sys; print('pack: /nonexistent'); sys.exit(1)"]
    record, _ = store.start("evidence_list", argv, None, [])
    deadline = time.monotonic() + 30
    while (found := store.get(record["run_id"])) and found["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert found is not None
    assert (found["status"], found["exit_code"], found["error_class"]) == (
        "failed",
        1,
        "action_failed",
    )
    assert found["evidence"] == "/nonexistent"


def write_record(
    store: RunStore, action: str, started: datetime, result: str | None = None
) -> dict[str, Any]:
    """A run record as hostd writes it (pid not yet known), with a result file when given."""
    record = new_record(action, started)
    run_id = record["run_id"]
    (store.folder / f"{run_id}.json").write_text(json.dumps(record))
    if result is not None:
        (store.folder / f"{run_id}.result.json").write_text(json.dumps({"status": result}))
    return record


def test_a_run_hostd_never_got_to_start_is_reaped_after_the_grace(tmp_path: Path) -> None:
    """hostd killed between writing the record and starting the wrapper: the record (pid
    still null) holds the action only for the grace period."""
    store = RunStore(tmp_path / "runs", ttl_seconds=600)
    record = write_record(store, "doctor", utc_now() - timedelta(seconds=5))
    path = store.folder / f"{record['run_id']}.json"
    assert store.start("doctor", [sys.executable, "-c", "pass"], None, [])[1] is False
    record["started_at"] = iso(utc_now() - timedelta(seconds=REAP_GRACE + 1))
    path.write_text(json.dumps(record))
    found = store.get(str(record["run_id"]))
    assert found is not None and found["error_class"] == "reaped"
    assert found["summary"] == "reaped: hostd stopped while starting it"
    assert store.start("doctor", [sys.executable, "-c", "pass"], None, [])[1] is True


def test_a_wrapper_that_cannot_start_is_an_error_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root, no limit makes fork fail on demand; the OS's answer is stood in for here.
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    store = RunStore(tmp_path / "runs", ttl_seconds=600)
    monkeypatch.setattr(hostd_runs.subprocess, "Popen", refuse)
    record, started = store.start("doctor", [sys.executable, "-c", "pass"], None, [])
    assert started and record["status"] == "error" and record["error_class"] == "action_error"
    monkeypatch.undo()
    found = store.get(record["run_id"])
    assert found is not None and found["summary"] == (
        "could not start: Resource temporarily unavailable"
    )
    assert store.active("doctor") is None  # it does not hold the action


def test_single_flight_sees_a_run_under_any_number_of_newer_ones(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs", ttl_seconds=600)
    now = utc_now()
    deploy = write_record(store, "deploy_and_verify", now - timedelta(seconds=20))
    (store.folder / f"{deploy['run_id']}.json").write_text(
        json.dumps({**deploy, "pid": os.getpid(), "pid_started": process_started(os.getpid())})
    )  # a live process: this run is running
    for n in range(300):  # a busy monitor's finished runs since
        write_record(store, "tail_logs", now - timedelta(seconds=10, milliseconds=-n), "passed")
    again, started = store.start("deploy_and_verify", [sys.executable, "-c", "pass"], None, [])
    assert not started and again["run_id"] == deploy["run_id"]


def test_old_finished_records_are_pruned_and_nothing_else(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs", ttl_seconds=600, keep_days=30)
    now = utc_now()
    old = [write_record(store, "doctor", now - timedelta(days=31 + n), "passed") for n in range(3)]
    young = write_record(store, "doctor", now - timedelta(days=29), "failed")
    stuck = write_record(store, "port_audit", now - timedelta(days=40))  # never reported
    assert store.prune(30) == 3
    left = {p.name.split(".")[0] for p in store.folder.glob("*.json")}
    assert left == {young["run_id"], stuck["run_id"]}
    assert not any(store.folder.glob(f"{old[0]['run_id']}*"))
    store.start("evidence_list", [sys.executable, "-c", "pass"], None, [])  # prunes as it starts
    assert store.get(stuck["run_id"])["error_class"] == "reaped"  # type: ignore[index]
