"""Odoo's log, read as a stream: ERROR/CRITICAL records (with their tracebacks) and werkzeug
access lines, judged by each record's own timestamp.

Format (Odoo 18.0): ``%(asctime)s %(pid)s %(levelname)s %(dbname)s``
``%(name)s: %(message)s``, tracebacks on following lines without a timestamp. Several workers
append to one file, so timestamps are not strictly ordered: every record is compared with the
window on its own, never "everything after the first match". Timestamps compare as bytes (the
format sorts).

Speed: the file is read in large binary chunks. Error records are found with a literal search
(`` ERROR ``) and only those lines meet a regular expression. Access lines are a quarter of a
busy log, so they are never handled one by one in Python: one expression, anchored on the
newline (which the regex engine finds at memory speed), returns (timestamp, excluded path
prefix, status class) for a whole chunk, and the window is checked on the chunk's oldest and
newest stamps before any line is looked at again. The cost stays within a few times ``grep``
and memory stays flat (a chunk, plus a bounded excerpt per error).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

CHUNK = 8 * 1024 * 1024
MAX_RECORD = 16 * 1024  # a traceback excerpt, not the whole novel
MAX_SAMPLES = 20
_START = rb"(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d{3} (\d+) "
ERROR_RECORD = re.compile(_START + rb"(ERROR|CRITICAL) (\S+) ([^\s:]+): ([^\n]*)")
RECORD_START = re.compile(_START + rb"[A-Z]+ ")
ERROR_FINDER = re.compile(rb" (?:ERROR|CRITICAL) ")
# Possessive (++, *+) where backtracking can never help (a run of non-spaces before a space,
# a bracket's content before "]"): the same matches, about 7% faster on access-heavy logs.
_ACCESS_TAIL = rb"INFO \S++ werkzeug: \S++ - - \[[^\]\n]*+\] \"\S++ (%s)\S*[^\"\n]*\" (\d)\d\d "
# The stamp is taken as any 19 bytes here (cheaper for the regex engine at every line start)
# and checked afterwards, all of a chunk's at once (_STAMPS).
_STAMP = rb"(.{19}),\d\d\d \d++ "
_STAMPS = re.compile(rb"(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)*")
_ONE_STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@functools.cache
def _access_patterns(excluded: tuple[bytes, ...]) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """(a line at a position, every line after a newline): groups stamp, excluded prefix (empty
    when the path is not excluded), first digit of the status."""
    prefixes = b"|".join(re.escape(p) for p in excluded) + b"|"
    tail = _ACCESS_TAIL % prefixes
    return re.compile(_STAMP + tail), re.compile(b"\n" + _STAMP + tail)


@dataclass
class ErrorRecord:
    timestamp: str
    pid: int
    level: str
    db: str
    logger: str
    message: str
    text: str  # the record with its traceback (bounded)

    @property
    def fingerprint(self) -> str:
        """Logger + message with numbers and ids blanked: the same fault groups together."""
        first = re.sub(r"\b0x[0-9a-f]+\b|\b\d+\b", "N", self.message)
        last = self.text.strip().splitlines()[-1] if "Traceback" in self.text else ""
        return f"{self.logger}: {first[:160]}" + (
            f" | {last[:160]}" if last and last != self.message else ""
        )


@dataclass
class LogScan:
    bytes_read: int = 0
    records_seen: int = 0
    errors: int = 0
    out_of_window: int = 0
    ignored: int = 0
    samples: list[ErrorRecord] = field(default_factory=list)
    fingerprints: dict[str, int] = field(default_factory=dict)
    rotated: bool = False
    access_total: int = 0
    access_5xx: int = 0
    access_excluded: int = 0


def _window(ts: bytes, since: bytes | None, until: bytes | None) -> bool:
    return (since is None or ts >= since) and (until is None or ts < until)


def _complete(buffer: bytes) -> int:
    """Where the last record that surely ended in ``buffer`` ends: the start of its last record."""
    tail_from = max(0, len(buffer) - 2 * MAX_RECORD)
    last = None
    for match in RECORD_START.finditer(buffer, tail_from):
        last = match.start()
    if last is not None and last > 0:
        return last
    if last == 0 and len(buffer) <= 2 * MAX_RECORD:
        return 0  # one record, maybe with more traceback to come: wait for the next chunk
    cut = buffer.rfind(b"\n")
    return cut + 1 if cut >= 0 else 0


# Odoo colours the level when its output is a TTY (a container run with -t): "\x1b[1;31m
# \x1b[1;49mERROR\x1b[0m". CSI sequences go before parsing, so such a log reads as a plain one.
ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]")
_ANSI_TAIL = 32  # longer than any sequence Odoo or a terminal writes


def plain_chunks(chunks: Iterable[bytes | str]) -> Iterator[bytes]:
    """The chunks as bytes (text is UTF-8 encoded) without ANSI escape sequences; a sequence
    cut by a chunk boundary is held back and removed whole."""
    held = b""
    for chunk in chunks:
        data = held + (
            chunk.encode("utf-8", "surrogateescape") if isinstance(chunk, str) else chunk
        )
        held = b""
        start = data.rfind(b"\x1b", max(0, len(data) - _ANSI_TAIL))
        if start >= 0 and ANSI.match(data, start) is None and b"\n" not in data[start:]:
            data, held = data[:start], data[start:]  # maybe the first half of a sequence
        yield ANSI.sub(b"", data) if b"\x1b" in data else data
    if held:
        yield ANSI.sub(b"", held)


def scan_chunks(
    chunks: Iterable[bytes | str],
    *,
    since: str | None = None,
    until: str | None = None,
    ignore: Iterable[re.Pattern[str]] = (),
    access_exclude: Iterable[str] = ("/web/health", "/websocket", "/longpolling"),
    count_access: bool = False,
    redact: Callable[[str], str] = str,
    access_until: str | None = None,
) -> LogScan:
    """Scan a log given as chunks (bytes or text, from a TTY or not: colours are dropped first).
    ``since``/``until``: ``YYYY-MM-DD HH:MM:SS`` (log time); access lines are counted up to
    ``access_until`` when it is given (one read serves the error and the error-rate gates).
    ``redact`` is applied to each error record as it is read, before it is cut, fingerprinted
    (digits blanked) or kept: a secret in a log line never reaches a result in any form."""
    scan = LogScan()
    lo = since.encode() if since else None
    hi = until.encode() if until else None
    access_hi = access_until.encode() if access_until else hi
    rules = list(ignore)
    excluded = tuple(p.encode() for p in access_exclude)
    carry = b""

    def judge(buffer: bytes, begin: int, stop: int) -> None:
        _errors(buffer, begin, stop, lo, hi, rules, scan, redact)
        if count_access:
            _access(buffer, begin, stop, lo, access_hi, excluded, scan)

    for chunk in plain_chunks(chunks):
        scan.bytes_read += len(chunk)
        first = RECORD_START.search(chunk)
        if first is not None:
            scan.records_seen += 1  # chunks holding Odoo records: zero means not an Odoo log
        if first is None:  # all of it continues the record in ``carry``
            carry = (carry + chunk)[-4 * CHUNK :]
            continue
        # The head of the chunk finishes the carried record: judge that small piece on its own,
        # then the chunk in place, so the big buffer is never copied.
        head = carry + chunk[: first.start()]
        judge(head, 0, len(head))
        end = max(_complete(chunk), first.start())
        judge(chunk, first.start(), end)
        carry = chunk[end:]
    judge(carry, 0, len(carry))
    return scan


def _matches(
    buffer: bytes, begin: int, end: int, finder: re.Pattern[bytes], pattern: re.Pattern[bytes]
) -> Iterator[re.Match[bytes]]:
    """Records matching ``pattern``, found through ``finder``, a literal search that runs at
    memory speed (a regex anchored at every line start does not), in file order."""
    last_line = -1
    for hit in finder.finditer(buffer, begin, end):
        line = buffer.rfind(b"\n", begin, hit.start()) + 1 or begin
        if line == last_line:
            continue
        last_line = line
        match = pattern.match(buffer, line, end)
        if match is not None:
            yield match


def _errors(
    buffer: bytes,
    begin: int,
    end: int,
    lo: bytes | None,
    hi: bytes | None,
    rules: list[re.Pattern[str]],
    scan: LogScan,
    redact: Callable[[str], str] = str,
) -> None:
    for match in _matches(buffer, begin, end, ERROR_FINDER, ERROR_RECORD):
        ts = match.group(1)
        if not _window(ts, lo, hi):
            scan.out_of_window += 1
            continue
        following = RECORD_START.search(buffer, match.end(), end)
        stop = following.start() if following else end
        # Redacted whole (one record is bounded by the chunk), then cut to MAX_RECORD.
        text = redact(buffer[match.start() : stop].decode("utf-8", "replace"))[:MAX_RECORD]
        record = ErrorRecord(
            timestamp=ts.decode(),
            pid=int(match.group(2)),
            level=match.group(3).decode(),
            db=match.group(4).decode("utf-8", "replace"),
            logger=match.group(5).decode("utf-8", "replace"),
            message=redact(
                match.group(6).decode("utf-8", "replace").rstrip()
            ),  # Odoo's trailing space
            text=text,
        )
        if any(rule.search(f"{record.logger}: {record.message}") for rule in rules):
            scan.ignored += 1
            continue
        scan.errors += 1
        scan.fingerprints[record.fingerprint] = scan.fingerprints.get(record.fingerprint, 0) + 1
        if len(scan.samples) < MAX_SAMPLES:
            scan.samples.append(record)


def _access(
    buffer: bytes,
    begin: int,
    end: int,
    lo: bytes | None,
    hi: bytes | None,
    excluded: tuple[bytes, ...],
    scan: LogScan,
) -> None:
    at_position, after_newline = _access_patterns(excluded)
    hits: list[tuple[bytes, bytes, bytes]] = []
    if begin < end and (begin == 0 or buffer[begin - 1] == 10):  # a line starts at ``begin``
        first = at_position.match(buffer, begin, end)
        if first is not None:
            hits.append((first.group(1), first.group(2), first.group(3)))
    hits += after_newline.findall(buffer, begin, end)
    if not hits:
        return
    stamps = [hit[0] for hit in hits]
    if _STAMPS.fullmatch(b"".join(stamps)) is None:  # a line only shaped like an access record
        hits = [hit for hit in hits if _ONE_STAMP.fullmatch(hit[0])]
        stamps = [hit[0] for hit in hits]
        if not hits:
            return
    if not ((lo is None or min(stamps) >= lo) and (hi is None or max(stamps) < hi)):
        hits = [hit for hit in hits if _window(hit[0], lo, hi)]
    statuses = [status for _stamp, prefix, status in hits if not prefix]
    scan.access_excluded += len(hits) - len(statuses)
    scan.access_total += len(statuses)
    scan.access_5xx += statuses.count(b"5")


def merge(total: LogScan, part: LogScan) -> LogScan:
    """Two scans of consecutive parts of one log (or of two replicas' logs) as one."""
    total.bytes_read += part.bytes_read
    total.records_seen += part.records_seen
    total.errors += part.errors
    total.out_of_window += part.out_of_window
    total.ignored += part.ignored
    total.samples += part.samples[: max(0, MAX_SAMPLES - len(total.samples))]
    for fingerprint, count in part.fingerprints.items():
        total.fingerprints[fingerprint] = total.fingerprints.get(fingerprint, 0) + count
    total.access_total += part.access_total
    total.access_5xx += part.access_5xx
    total.access_excluded += part.access_excluded
    total.rotated = total.rotated or part.rotated
    return total
