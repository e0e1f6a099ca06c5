"""The run's memo (core/memo.py): work several processes of a run need is done once, a failed
or killed computation leaves nothing behind, and the controller's folder goes with the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_ipai.core.memo import RunMemo

# A worker: computes "value" for KEY (noting each computation in a log), or blocks forever.
WORKER = """
import os, sys, time
from pathlib import Path
from pytest_ipai.core.memo import RunMemo
memo_dir, log, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
def compute():
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    if mode == "hang":
        print("computing", flush=True)
        time.sleep(600)
    time.sleep(0.3)
    return {"tree": list(range(5)), "by": os.getpid()}
print(RunMemo(memo_dir).get("addons-tree", compute)["by"], flush=True)
"""


def worker(memo: Path, log: Path, mode: str = "compute") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(memo), str(log), mode],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_processes_share_one_computation(tmp_path: Path) -> None:
    memo = RunMemo.create()
    try:
        assert memo.directory is not None
        log = tmp_path / "computed"
        procs = [worker(memo.directory, log) for _ in range(3)]
        answers = [p.communicate(timeout=60)[0].strip() for p in procs]
        assert len(log.read_text().split()) == 1  # computed once
        assert len(set(answers)) == 1  # everyone got the same value (made by that one)
    finally:
        memo.remove()
    assert not memo.directory.exists()


def test_a_killed_computation_does_not_block_the_others(tmp_path: Path) -> None:
    memo = RunMemo.create()
    try:
        assert memo.directory is not None
        log = tmp_path / "computed"
        stuck = worker(memo.directory, log, "hang")
        assert stuck.stdout is not None and stuck.stdout.readline().strip() == "computing"
        waiting = worker(memo.directory, log)
        time.sleep(0.3)
        assert waiting.poll() is None  # it waits on the lock the stuck one holds
        os.kill(stuck.pid, signal.SIGKILL)  # a timed-out xdist worker dies like this
        stuck.wait(10)
        answer = waiting.communicate(timeout=60)[0].strip()
        assert answer == str(waiting.pid)  # the lock died with its holder: it computed
        assert len(log.read_text().split()) == 2
    finally:
        memo.remove()


def test_a_failed_computation_leaves_nothing(tmp_path: Path) -> None:
    memo = RunMemo.create()
    try:

        def broken() -> int:
            raise ValueError("the tree could not be read")

        with pytest.raises(ValueError):
            memo.get("k", broken)
        assert RunMemo(memo.directory).get("k", lambda: 7) == 7  # another process computes
        assert RunMemo(memo.directory).get("k", lambda: 8) == 7  # and shares it
    finally:
        memo.remove()


def test_a_value_that_cannot_be_stored_is_still_returned(tmp_path: Path) -> None:
    memo = RunMemo.create()
    try:
        value = memo.get("lock", lambda: lambda: 1)  # a lambda does not pickle
        assert value() == 1
        assert RunMemo(memo.directory).get("lock", lambda: lambda: 2)() == 2  # not shared
    finally:
        memo.remove()


def test_without_a_folder_each_process_computes_once() -> None:
    memo = RunMemo(None)
    calls: list[int] = []
    assert memo.get("k", lambda: calls.append(1) or len(calls)) == 1
    assert memo.get("k", lambda: calls.append(1) or len(calls)) == 1
    assert calls == [1]
