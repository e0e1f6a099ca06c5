"""The Odoo log stream: error records with tracebacks, windows on out-of-order timestamps,
access lines, garbage, chunk boundaries, rotation."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ipai.probes.odoo_log_file import scan_file
from pytest_ipai.probes.odoo_logs import LogScan, scan_chunks

LOG = (
    "2026-11-22 10:30:00,001 1301 INFO ? odoo.service.server: HTTP service (werkzeug) running\n"
    "2026-11-22 10:32:20,036 1307 INFO evaldb odoo.service.server: Worker WorkerHTTP (1307) alive\n"
    '2026-11-22 10:32:21,100 1307 INFO evaldb werkzeug: 127.0.0.1 - - [22/Nov/2026 10:32:21] "GET /web/login HTTP/1.1" 200 - 61 0.034 0.156\n'
    "2026-11-22 10:32:22,100 1308 ERROR evaldb odoo.http: Exception during request handling.\n"
    "Traceback (most recent call last):\n"
    '  File "/opt/odoo/odoo/http.py", line 2138, in __call__\n'
    "    response = request._serve_db()\n"
    "psycopg2.errors.UndefinedColumn: column res_partner.x_field does not exist\n"
    '2026-11-22 10:32:22,150 1308 INFO evaldb werkzeug: 127.0.0.1 - - [22/Nov/2026 10:32:22] "POST /web/dataset/call_kw HTTP/1.1" 200 - 3 0.01 0.02\n'
    "2026-11-22 10:32:19,900 1309 CRITICAL evaldb odoo.modules.registry: Failed to load registry\n"
    "\xff\xfe garbage that is not a log line at all\n"
    '2026-11-22 10:32:23,000 1307 INFO evaldb werkzeug: 127.0.0.1 - - [22/Nov/2026 10:32:23] "GET /web/health HTTP/1.1" 500 - 0 0 0.001\n'
    '2026-11-22 10:32:24,000 1307 INFO evaldb werkzeug: 10.0.0.9 - - [22/Nov/2026 10:32:24] "GET /shop HTTP/1.1" 502 - 4 0.1 0.2\n'
    "2026-11-22 10:33:00,000 1310 WARNING evaldb odoo.addons.base: not an error\n"
).encode("utf-8", "surrogateescape")


def test_errors_with_tracebacks_and_out_of_order_timestamps() -> None:
    scan = scan_chunks([LOG], since="2026-11-22 10:32:00")
    assert scan.errors == 2
    first, second = scan.samples
    assert (first.level, first.pid, first.logger) == ("ERROR", 1308, "odoo.http")
    assert first.text.splitlines()[-1].startswith("psycopg2.errors.UndefinedColumn")
    assert "INFO evaldb werkzeug" not in first.text  # the next record is not part of it
    # Written after a later record but stamped earlier: judged by its own stamp.
    assert (second.level, second.timestamp) == ("CRITICAL", "2026-11-22 10:32:19")
    assert "garbage that is not a log line" in second.text
    assert any("UndefinedColumn" in f for f in scan.fingerprints)


def test_window_and_ignore_list() -> None:
    late = scan_chunks([LOG], since="2026-11-22 10:32:20")
    assert late.errors == 1 and late.out_of_window == 1
    until = scan_chunks([LOG], since="2026-11-22 10:00:00", until="2026-11-22 10:32:21")
    assert [r.level for r in until.samples] == ["CRITICAL"]
    ignored = scan_chunks([LOG], ignore=[re.compile(r"^odoo\.modules\.registry: ")])
    assert (ignored.errors, ignored.ignored) == (1, 1)


def test_access_lines_exclude_health_and_count_5xx() -> None:
    scan = scan_chunks([LOG], since="2026-11-22 10:32:00", count_access=True)
    assert (scan.access_total, scan.access_5xx, scan.access_excluded) == (3, 1, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, len(LOG) - 1), max_size=12, unique=True))
def test_chunk_boundaries_do_not_matter(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(LOG)]
    chunks = [LOG[a:b] for a, b in itertools.pairwise(points)]
    whole = scan_chunks([LOG], count_access=True)
    split = scan_chunks(chunks, count_access=True)
    assert [r.text for r in split.samples] == [r.text for r in whole.samples]
    assert (split.errors, split.access_total, split.access_5xx) == (
        whole.errors,
        whole.access_total,
        whole.access_5xx,
    )


def _coloured(log: bytes) -> bytes:
    """The log as Odoo writes it to a TTY: each level in its colour sequences (ColoredFormatter:
    foreground, background, the level, reset)."""
    colours = {b"INFO": 32, b"WARNING": 33, b"ERROR": 31, b"CRITICAL": 37}
    for level, colour in colours.items():
        seq = b"\x1b[1;%dm\x1b[1;49m%s\x1b[0m" % (colour, level)
        log = re.sub(rb"(?m)^(\S+ \S+ \d+ )" + level + b" ", rb"\g<1>" + seq + b" ", log)
    return log


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, len(_coloured(LOG)) - 1), max_size=12, unique=True))
def test_a_tty_coloured_log_reads_as_the_plain_one(cuts: list[int]) -> None:
    tty = _coloured(LOG)
    assert tty.count(b"\x1b[") == 3 * len(re.findall(rb"(?m)^2026-", LOG))  # every level
    points = [0, *sorted(cuts), len(tty)]
    chunks: list[bytes | str] = [tty[a:b] for a, b in itertools.pairwise(points)]  # cut anywhere
    plain = scan_chunks([LOG], count_access=True)
    for given_as in (chunks, [tty.decode("utf-8", "surrogateescape")]):  # bytes, or text
        scan = scan_chunks(given_as, count_access=True)
        assert [r.text for r in scan.samples] == [r.text for r in plain.samples]
        assert (scan.errors, scan.access_total, scan.access_5xx) == (
            plain.errors, plain.access_total, plain.access_5xx,
        )  # fmt: skip
        assert not any("\x1b" in r.text or "\x1b" in r.message for r in scan.samples)


def test_garbage_only_and_empty_logs(tmp_path: Path) -> None:
    path = tmp_path / "odoo.log"
    path.write_bytes(b"\x00\x01 not odoo\n" * 1000)
    scan = scan_file(path)
    assert (scan.errors, scan.bytes_read) == (0, len(b"\x00\x01 not odoo\n") * 1000)
    path.write_bytes(b"")
    assert scan_file(path).bytes_read == 0  # empty: the gate must not call this a pass


def test_rotation_during_the_read_is_noticed(tmp_path: Path) -> None:
    from pytest_ipai.probes import odoo_log_file, odoo_logs

    path = tmp_path / "odoo.log"
    big = LOG * 8000  # larger than one read
    assert len(big) > odoo_logs.CHUNK
    path.write_bytes(big)
    before = os.stat(path)
    chunks = odoo_log_file.range_chunks(path, 0, len(big))
    first = next(chunks)
    path.rename(tmp_path / "odoo.log.1")  # logrotate moves it away and starts a new file
    path.write_bytes(b"")
    rest = list(chunks)
    assert odoo_log_file._moved(path, before)
    assert len(first) + sum(map(len, rest)) == len(big)  # the old file is still read to its end

    path.write_bytes(big)
    before = os.stat(path)
    chunks = odoo_log_file.range_chunks(path, 0, len(big))
    next(chunks)
    with open(path, "r+b") as fh:
        fh.truncate(10)  # copytruncate under our feet
    list(chunks)
    assert odoo_log_file._moved(path, before)
    path.write_bytes(big)
    assert scan_file(path).rotated is False


# Lines and records of different kinds, each whole: a generated log is a sequence of them.
BLOCKS = [
    b"2026-11-22 10:32:20,036 1307 INFO evaldb odoo.service.server: Worker WorkerHTTP (1307) alive\n",
    b'2026-11-22 10:32:21,100 1307 INFO evaldb werkzeug: 127.0.0.1 - - [22/Nov/2026 10:32:21] "GET /web/login HTTP/1.1" 200 - 61 0.034 0.156\n',
    b'2026-11-22 10:31:21,100 1307 INFO evaldb werkzeug: 127.0.0.1 - - [22/Nov/2026 10:31:21] "GET /shop HTTP/1.1" 503 - 6 0.03 0.1\n',
    b'2026-11-22 10:33:21,100 1307 INFO evaldb werkzeug: 127.0.0.1 - - [22/Nov/2026 10:33:21] "GET /web/health HTTP/1.1" 200 - 6 0.03 0.1\n',
    b"2026-11-22 10:32:22,100 1308 ERROR evaldb odoo.http: Exception during request handling.\n"
    b"Traceback (most recent call last):\n"
    b'  File "/opt/odoo/odoo/http.py", line 2138, in __call__\n'
    + b"    response = request._serve_db()\n" * 40
    + b"psycopg2.errors.UndefinedColumn: column res_partner.x_field does not exist\n",
    b"2026-11-22 10:30:19,900 1309 CRITICAL evaldb odoo.modules.registry: Failed to load registry\n",
    b"2026-11-22 10:34:19,900 1309 CRITICAL evaldb odoo.modules.registry: Failed again\n",
]


def _as_tuple(scan: LogScan) -> tuple[object, ...]:
    return (
        scan.bytes_read,
        scan.errors,
        scan.out_of_window,
        scan.ignored,
        [(r.timestamp, r.pid, r.message, r.text) for r in scan.samples],
        scan.fingerprints,
        scan.access_total,
        scan.access_5xx,
        scan.access_excluded,
    )


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(range(len(BLOCKS))), min_size=1, max_size=60),
    st.integers(min_value=2, max_value=5),
)
def test_a_file_cut_in_parts_scans_as_one_pass(picks: list[int], parts: int) -> None:
    """Cut at record starts and scanned by several processes, a log gives the scan a single
    pass gives: errors with their tracebacks, samples in file order, access counts."""
    import tempfile

    body = b"".join(BLOCKS[i] for i in picks)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "odoo.log"
        path.write_bytes(body)
        window = {"since": "2026-11-22 10:32:00", "count_access": True}
        single = scan_file(path, parts=1, **window)  # type: ignore[arg-type]
        split = scan_file(path, parts=parts, **window)  # type: ignore[arg-type]
    assert _as_tuple(split) == _as_tuple(single)


def test_cut_points_fall_on_record_starts(tmp_path: Path) -> None:
    from pytest_ipai.probes.odoo_log_file import cut_points

    path = tmp_path / "odoo.log"
    body = LOG * 50
    path.write_bytes(body)
    points = cut_points(path, len(body), 4)
    assert points[0] == 0 and points[-1] == len(body) and points == sorted(set(points))
    assert len(points) == 5
    for at in points[1:-1]:
        assert body[at - 1 : at] == b"\n" and body[at : at + 4] == b"2026"


# As Odoo 18.0 writes them: "?" without a database, a space at the end of every line, lines
# that only reach stdout/stderr in between, longpolling access lines in gevent's own format.
REAL = (
    b"Running as user 'root' is a security risk.\n"
    b"2026-12-04 14:10:00,316 19413 INFO ? odoo: Odoo version 18.0 \n"
    b"2026-12-04 14:10:00,641 19413 INFO ? odoo.service.server: Evented Service (longpolling) running on 127.0.0.1:18072 \n"
    b"2026-12-04 14:10:00,642 19413 ERROR ? odoo.service.server: Evented Service (longpolling): uncaught error during main loop \n"
    b"Traceback (most recent call last):\n"
    b"OSError: [Errno 98] Address already in use: ('127.0.0.1', 18072)\n"
    b"Traceback (most recent call last):\n"
    b'  File "/opt/odoo/src/odoo-bin", line 8, in <module>\n'
    b"OSError: [Errno 98] Address already in use: ('127.0.0.1', 18072)\n"
    b'2026-12-04 14:08:19,010 18703 INFO of_contacts longpolling: 127.0.0.1 - - [2026-12-04 14:08:19] "GET /websocket HTTP/1.1" 400 293 0.447088 \n'
    b'2026-12-04 14:05:06,000 18701 INFO of_contacts werkzeug: 127.0.0.1 - - [04/Dec/2026 14:05:06] "GET /web/assets/f3f1f06/web.assets_frontend.min.css HTTP/1.1" 200 - 12 0.015 0.525 \n'
)


def test_real_odoo_18_lines() -> None:
    scan = scan_chunks([REAL], since="2026-12-04 14:00:00", count_access=True)
    assert scan.errors == 1
    (record,) = scan.samples
    assert (record.db, record.logger) == ("?", "odoo.service.server")
    assert record.message == "Evented Service (longpolling): uncaught error during main loop"
    assert "Address already in use" in record.text
    assert scan.access_total == 1  # the werkzeug line; longpolling is not the HTTP port's traffic


def test_a_part_that_fails_fails_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part whose process fails is an error of the whole scan, never a partial scan that
    looks complete; and a file gone from under the scan is an error too."""
    from pytest_ipai.probes import odoo_log_file

    path = tmp_path / "odoo.log"
    path.write_bytes(LOG * 100)
    monkeypatch.setattr(odoo_log_file.sys, "executable", "/bin/false")  # every part's process
    with pytest.raises(OSError, match=r"a part of the scan failed \(exit 1\)"):
        scan_file(path, parts=3)
    monkeypatch.undo()
    real = odoo_log_file.cut_points

    def cut_then_vanish(at: Path, size: int, parts: int) -> list[int]:
        points = real(at, size, parts)
        at.unlink()
        return points

    monkeypatch.setattr(odoo_log_file, "cut_points", cut_then_vanish)
    with pytest.raises(OSError):
        scan_file(path, parts=3)


def test_a_line_only_shaped_like_an_access_record_is_not_counted() -> None:
    fake = (
        b"not a timestamp!!!!,123 1307 INFO db werkzeug: 127.0.0.1 - - "
        b'[22/Nov/2026 10:32:21] "GET /shop HTTP/1.1" 500 - 1 0.1 0.1\n'
    )
    scan = scan_chunks([LOG + fake], since="2026-11-22 10:32:00", count_access=True)
    assert (scan.access_total, scan.access_5xx) == (3, 1)  # as without the fake line
