"""Odoo's log file, scanned by as many processes as the machine has CPUs (at most four).

A log of a busy week is a gigabyte; one Python process reads it at about a third of ``grep``'s
speed. The file is cut into parts at record starts (a record and its traceback never straddle
two parts), each part is scanned by a process of its own, and the parts' scans are merged in
file order, so the result is the one a single pass gives (tests/test_odoo_logs.py holds them
equal). Small files, and machines with one CPU, are scanned in this process.

The parts end where the file ended when the scan began: lines appended meanwhile are the next
scan's. A file rotated or truncated during the scan is noted (``rotated``), as before.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .odoo_logs import CHUNK, LogScan, merge, scan_chunks

SPLIT_FROM = 64 * 1024 * 1024  # below this, starting processes costs more than it saves
MAX_PARTS = 4
PART_TIMEOUT = 1800.0  # seconds for all parts: a gigabyte takes a few
# A line that starts a record: the cut goes after the newline before it.
_CUT = re.compile(rb"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ [A-Z]+ )")
_PROBE = 1024 * 1024  # how far past a cut point to look for a record start


def range_chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The bytes of ``path`` from ``start`` to ``end``, in chunks."""
    with open(path, "rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def cut_points(path: Path, size: int, parts: int) -> list[int]:
    """Offsets 0 < ... < size where records start, about ``size / parts`` apart, framed by 0
    and ``size``. A cut that finds no record start nearby (one huge traceback) is dropped."""
    points = [0]
    with open(path, "rb") as handle:
        for index in range(1, parts):
            at = max(points[-1] + 1, size * index // parts)
            handle.seek(at)
            window = handle.read(_PROBE)
            found = _CUT.search(window)
            if found is not None and at + found.end() < size:
                points.append(at + found.end())
    points.append(size)
    return points


def scan_part(path: str, start: int, end: int, window: dict[str, Any]) -> LogScan:
    return scan_chunks(range_chunks(Path(path), start, end), **window)


def scan_file(
    path: Path,
    *,
    since: str | None = None,
    until: str | None = None,
    ignore: Iterable[re.Pattern[str]] = (),
    count_access: bool = False,
    redact: Callable[[str], str] = str,
    access_until: str | None = None,
    parts: int | None = None,
) -> LogScan:
    """Scan the log file in ``parts`` (default: one per CPU, up to four, for a file of at
    least 64 MiB). ``redact`` must pickle when the file is split (a Redactor's ``text``)."""
    window: dict[str, Any] = {
        "since": since,
        "until": until,
        "ignore": list(ignore),
        "count_access": count_access,
        "redact": redact,
        "access_until": access_until,
    }
    before = os.stat(path)
    size = before.st_size
    if parts is None:
        parts = min(os.cpu_count() or 1, MAX_PARTS) if size >= SPLIT_FROM else 1
    points = cut_points(path, size, parts) if parts > 1 else [0, size]
    ranges = list(itertools.pairwise(points))
    if len(ranges) == 1:
        scan = scan_part(str(path), 0, size, window)
    else:
        scan = LogScan()
        for part in _in_processes(path, ranges, window):
            scan = merge(scan, part)
    scan.rotated = _moved(path, before)
    return scan


def _in_processes(
    path: Path, ranges: list[tuple[int, int]], window: dict[str, Any]
) -> list[LogScan]:
    """The first range scanned here, each other one by ``python -m
    pytest_ipai.probes.odoo_log_part`` (its own interpreter: nothing of the caller's threads,
    main module or state comes along). The job goes in on stdin and the scan comes back on
    stdout, both pickled; a part that fails or overruns kills them all and fails the scan."""
    argv = [sys.executable, "-m", "pytest_ipai.probes.odoo_log_part"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for start, end in ranges[1:]:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            procs.append(proc)
            stdin, proc.stdin = proc.stdin, None  # communicate() below only reads
            assert stdin is not None
            # A process that died at once breaks the pipe: its exit code below says why.
            with contextlib.suppress(BrokenPipeError):
                stdin.write(pickle.dumps((str(path), start, end, window)))  # small
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
        scans = [scan_part(str(path), *ranges[0], window)]  # while the others run
        deadline = time.monotonic() + PART_TIMEOUT
        for proc in procs:
            # Bounded: a LogScan keeps at most MAX_SAMPLES records.
            out, err = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
            code = proc.returncode
            if code != 0:
                lines = err.decode("utf-8", "replace").strip().splitlines() or ["(no output)"]
                raise OSError(f"{path}: a part of the scan failed (exit {code}): {lines[-1]}")
            scans.append(pickle.loads(out))  # noqa: S301 (our own child, our own bytes)
        return scans
    except subprocess.TimeoutExpired:
        raise OSError(f"{path}: the scan took longer than {PART_TIMEOUT:.0f} s") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def _moved(path: Path, before: os.stat_result) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return True
    return now.st_ino != before.st_ino or now.st_size < before.st_size
