"""hostd under a burst of status polls (issue: host executor).

    .venv/bin/python bench/bench_hostd.py [--polls 200]

A real ``ipai hostd serve`` on loopback, a real doctor run (the post-deploy suite against the
stand-in container on the podman test bed). While the doctor runs, POLLS callers ask
``GET /api/runs?id=RUN`` at once (one thread each). Then the same burst again with the run
finished, as the reference. Printed: errors (goal 0), p50/p99/max latency of each burst, their
ratio, and how many answers of the first burst still said ``running`` (the burst really hit a
live run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "examples" / "demo"))
import build as demo_build  # noqa: E402
from conftest import seed_modules, set_env_keys  # noqa: E402
from hostd_bed import TOKEN, HostdServer, users_traffic  # noqa: E402
from loopback import free_port  # noqa: E402
from odoo_db import drop_test_databases, make_odoo_db  # noqa: E402
from podman_bed import Bed  # noqa: E402
from test_network_gate import allow, current_public  # noqa: E402


def burst(hostd: HostdServer, run_id: str, polls: int) -> tuple[list[float], int, int]:
    """``polls`` concurrent status requests released together: latencies, errors, running."""
    gate = threading.Barrier(polls)
    latencies: list[float] = []
    outcome = {"errors": 0, "running": 0}
    lock = threading.Lock()

    def one() -> None:
        gate.wait(timeout=60)
        started = time.perf_counter()
        try:
            answer = hostd.run(run_id)
            ok = answer.status_code == 200
            running = ok and answer.json()["status"] == "running"
        except requests.RequestException:
            ok = running = False
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            outcome["errors"] += not ok
            outcome["running"] += running

    threads = [threading.Thread(target=one) for _ in range(polls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return latencies, outcome["errors"], outcome["running"]


def figures(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": statistics.median(ordered) * 1000, "p99": p99 * 1000, "max": ordered[-1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=200)
    polls = parser.parse_args().polls
    with tempfile.TemporaryDirectory(prefix="bench-hostd-") as tmp:
        base = Path(tmp)
        stack = demo_build.build(base / "demo")
        bed = Bed(base / "bed")
        db = make_odoo_db(base, partners=100, files=1)
        seed_modules(db)
        project = bed.project(base)
        odoo_port = free_port()
        (base / "hostd").mkdir()
        hostd = HostdServer(
            stack / "ipai.toml", base / "hostd", env={**os.environ, "DEMO_DSN": db.dsn}
        )
        state = base / "state" / "state.json"
        state.parent.mkdir()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 5))
        state.write_text(json.dumps({"last_deploy_timestamp": stamp}))
        hostd.token_file.write_text(TOKEN)
        set_env_keys(
            stack,
            database=db.name,
            engine_socket=bed.socket,
            compose_project=project,
            base_url=f"http://127.0.0.1:{odoo_port}",
            workers=2,
            log_source={"container": "odoo"},
            services={"odoo": "odoo"},
            state_file=str(state),
            hostd={**hostd.settings(), "run_ttl_minutes": 60},
        )
        allow(stack, current_public())  # this machine's own listeners are not the stack's
        try:
            # Each request to the stand-in takes 1 s: the doctor outlives the burst.
            bed.standin(
                f"{project}-odoo",
                odoo_port,
                "--workers",
                "2",
                "--hang",
                "1",
                dsn=db.dsn,
                project=project,
            )
            users_traffic(odoo_port)
            hostd.start()
            run_id = hostd.exec("doctor").json()["run_id"]
            started = time.monotonic()
            live, live_errors, running = burst(hostd, run_id, polls)
            burst_seconds = time.monotonic() - started
            alone = []  # one caller at a time: the service time without queueing
            for _ in range(50):
                began = time.perf_counter()
                hostd.run(run_id)
                alone.append(time.perf_counter() - began)
            record = hostd.wait(run_id, seconds=600)
            idle, idle_errors, _ = burst(hostd, run_id, polls)
        finally:
            hostd.kill()
            bed.remove(f"{project}-odoo")
            bed.close()
            drop_test_databases(db.name)
    a, b = figures(live), figures(idle)
    print(f"hostd status polls: {polls} concurrent, twice")
    print(f"  while the doctor runs: errors {live_errors} (goal 0), answers 'running' {running}")
    print(
        f"    p50 {a['p50']:.1f} ms, p99 {a['p99']:.1f} ms, max {a['max']:.1f} ms, "
        f"burst {burst_seconds:.2f} s"
    )
    print(f"  after it finished ({record['status']}: {record['summary']}): errors {idle_errors}")
    print(f"    p50 {b['p50']:.1f} ms, p99 {b['p99']:.1f} ms, max {b['max']:.1f} ms")
    c = figures(alone)
    print(
        f"  one caller at a time (50 polls, doctor running): p50 {c['p50']:.1f} ms, "
        f"p99 {c['p99']:.1f} ms"
    )
    print(f"  ratio during/after: p50 {a['p50'] / b['p50']:.2f}x, p99 {a['p99'] / b['p99']:.2f}x")
    if live_errors or idle_errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
