"""Log gate throughput and memory on a generated Odoo log (issue: post-deploy gates).

    .venv/bin/python bench/bench_logs.py [--mb 1024]

Generates an Odoo log of about MB megabytes (INFO records, werkzeug access lines, ERROR records
with tracebacks, a few out-of-order timestamps), then, in this one run and on a warm page cache:
``grep -c ' ERROR '`` against the log scan: errors only, and the one pass the log gates share
(errors and every access line, as logs.no_errors, http.error_rate and http.assets read it
together), each in its own process so its peak memory (max RSS) can be printed. Goals: the
shared pass within 3x of grep; flat memory (under 100 MB peak). Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCAN = """
import sys, time
from pathlib import Path
from pytest_ipai.probes.odoo_log_file import scan_file
start = time.perf_counter()
scan = scan_file(Path(sys.argv[1]), since="2026-11-22 10:00:00", count_access=sys.argv[2] == "1")
print(time.perf_counter() - start, scan.errors, scan.access_total, scan.access_5xx)
"""

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/opt/odoo/odoo/http.py", line 2138, in __call__\n'
    "    response = request._serve_db()\n"
    '  File "/opt/odoo/odoo/service/model.py", line 156, in retrying\n'
    "    result = func()\n"
    "psycopg2.errors.SerializationFailure: could not serialize access due to concurrent update\n"
)


def generate(path: Path, megabytes: int) -> None:
    rng = random.Random(42)
    target = megabytes * 1024 * 1024
    written = 0
    with open(path, "w", buffering=1 << 22) as fh:
        second = 0
        while written < target:
            lines = []
            for _ in range(2000):
                second += 1
                ts = f"2026-11-22 {10 + (second // 3600) % 14:02d}:{(second // 60) % 60:02d}:{second % 60:02d},{rng.randrange(1000):03d}"
                pid = 1300 + rng.randrange(8)
                roll = rng.random()
                if roll < 0.25:
                    status = 500 if rng.random() < 0.02 else 200
                    lines.append(
                        f'{ts} {pid} INFO prod werkzeug: 127.0.0.1 - - [22/Nov/2026 10:00:00] "GET /web/dataset/call_kw/res.partner/search_read HTTP/1.1" {status} - 12 0.010 0.040\n'
                    )
                elif roll < 0.251:
                    lines.append(
                        f"{ts} {pid} ERROR prod odoo.http: Exception during request handling.\n{TRACEBACK}"
                    )
                else:
                    lines.append(
                        f"{ts} {pid} INFO prod odoo.addons.queue_job.jobrunner.runner: queue job {rng.randrange(10**6)} done in 0.{rng.randrange(999):03d}s\n"
                    )
            block = "".join(lines)
            fh.write(block)
            written += len(block)


def run(argv: list[str]) -> tuple[float, str, float]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, proc.stdout.strip(), peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipai-bench-logs-") as tmp:
        log = Path(tmp) / "odoo.log"
        generate(log, args.mb)
        size = log.stat().st_size
        grep = ["grep", "-c", " ERROR ", str(log)]
        run(grep)  # warm the page cache
        greps, errors_only, with_access = [], [], []
        out = ""
        for _ in range(args.rounds):
            greps.append(run(grep)[0])
            errors_only.append(run([sys.executable, "-c", SCAN, str(log), "0"])[0])
            elapsed, out, _ = run([sys.executable, "-c", SCAN, str(log), "1"])
            with_access.append(elapsed)
        # Peak memory of one scan, in a fresh process: the largest of it and the processes that
        # scan the parts of a big log (ru_maxrss of children is the largest child's).
        peak = subprocess.run(
            [
                sys.executable,
                "-c",
                "import resource, runpy, sys; sys.argv=['x', sys.argv[1], '1']; "
                f"exec({SCAN!r}); print(max(resource.getrusage(who).ru_maxrss for who in "
                "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) // 1024)",
                str(log),
            ],
            capture_output=True,
            text=True,
            timeout=3600,
            check=True,
        ).stdout.split()[-1]
        g, e, a = (statistics.median(x) for x in (greps, errors_only, with_access))
        print(
            f"log: {size / 1e9:.2f} GB; scan found errors/access/5xx: {' '.join(out.split()[1:])}"
        )
        print(f"  grep -c ' ERROR '           {g:6.2f}s")
        print(f"  log scan (errors only)      {e:6.2f}s   ratio {e / g:4.2f}")
        print(f"  one pass (errors + access)  {a:6.2f}s   ratio {a / g:4.2f}  (goal <= 3.0)")
        print(f"  peak memory of a scan       {peak} MB per process  (goal < 100 MB)")


if __name__ == "__main__":
    main()
