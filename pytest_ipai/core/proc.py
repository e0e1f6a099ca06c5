"""The one place that runs external commands: argv lists, never a shell, always a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from .errors import ToolError

DEAD = ("Z", "X")  # /proc states of a process that has exited (zombie, dead)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
    group: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return the completed process; a missing tool or a timeout is ToolError.

    The exit status is the caller's business: some tools answer questions with it.
    ``group``: run it in a process group of its own and, on timeout, kill the whole group, so
    grandchildren (pytest's workers, say) cannot keep its output open and the call hanging.
    """
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ToolError(f"invalid command template: {list(argv)!r}")
    try:
        if group:
            return _run_group(argv, timeout=timeout, cwd=cwd, env=env, capture=capture)
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=capture,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ToolError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise ToolError(
            f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: timed out after {timeout:g}s"
        ) from None


def _run_group(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None,
    env: Mapping[str, str] | None,
    capture: bool,
) -> subprocess.CompletedProcess[str]:
    pipe = subprocess.PIPE if capture else None
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=pipe,
        stderr=pipe,
        text=True,
        errors="replace",
        process_group=0,  # same session as the caller: a reaper can still find it by session
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # every holder of the pipes is gone now
            raise
        return subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)


def stream(
    argv: Sequence[str],
    *,
    timeout: float,
    sink: Callable[[str], None],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``argv`` in a process group of its own, hand its stdout to ``sink`` line by line (its
    stderr passes through) and return its exit status; on timeout kill the group (ToolError).

    The child writes into our pipe, never into our caller's: when the reader of our output goes
    away (``ipai gate ... | head``) the child does not notice and finishes its work.
    """
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ToolError(f"invalid command template: {list(argv)!r}")
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            errors="replace",
            process_group=0,
        )
    except FileNotFoundError:
        raise ToolError(f"{argv[0]}: command not found") from None
    expired = threading.Event()

    def kill_group() -> None:
        expired.set()
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill_group)
    timer.daemon = True
    timer.start()
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            sink(line)
        status = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:  # the sink raised: leave nothing running behind us
            kill_group()
            proc.wait()
        proc.stdout.close()
    if expired.is_set():
        raise ToolError(
            f"{argv[0]} {argv[1] if len(argv) > 1 else ''}: timed out after {timeout:g}s"
        )
    return status


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (Linux): state at [0], session at [3],
    start time at [19]; None when there is no such process (or no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text("utf-8", errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def pid_alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` is a live process: a zombie (exited, not yet waited for) is not, nor,
    when ``started`` (from ``process_started``) is given, a later process that reuses the pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = proc_stat(pid)
    if fields is None:
        return True  # no /proc: signal 0 is all we can tell
    if fields[0] in DEAD:
        return False
    return started is None or int(fields[19]) == started


def process_started(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), to tell pid reuse apart."""
    fields = proc_stat(pid)
    return None if fields is None else int(fields[19])


def kill_session(session: int) -> int:
    """SIGKILL every process of ``session`` (Linux /proc); the number signalled. Never our own
    session, nor a session id that is not a real process leader."""
    if session <= 1 or session == os.getsid(0):
        return 0
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = proc_stat(int(entry.name))
        if fields and len(fields) > 3 and int(fields[3]) == session and fields[0] not in DEAD:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed
