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
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "examples" / "demo"))
import build as demo_build  # noqa: E402
from conftest import IPAI, seed_modules, set_env_keys  # noqa: E402
from loopback import free_port, wait_port  # noqa: E402
from odoo_db import drop_test_databases, make_odoo_db  # noqa: E402
from podman_bed import Bed  # noqa: E402
from test_network_gate import allow, current_public  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"


def burst(url: str, run_id: str, polls: int) -> tuple[list[float], int, int]:
    """``polls`` concurrent status requests released together: latencies, errors, running."""
    gate = threading.Barrier(polls)
    latencies: list[float] = []
    outcome = {"errors": 0, "running": 0}
    lock = threading.Lock()

    def one() -> None:
        gate.wait(timeout=60)
        started = time.perf_counter()
        try:
            answer = requests.get(
                f"{url}/api/runs",
                params={"id": run_id},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            )
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
        odoo_port, hostd_port = free_port(), free_port()
        state = base / "state" / "state.json"
        state.parent.mkdir()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 5))
        state.write_text(json.dumps({"last_deploy_timestamp": stamp}))
        (base / "token").write_text(TOKEN)
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
            hostd={
                "listen": f"127.0.0.1:{hostd_port}",
                "token_file": str(base / "token"),
                "runs_dir": str(base / "runs"),
            },
        )
        allow(stack, current_public())  # this machine's own listeners are not the stack's
        env: dict[str, Any] = {**os.environ, "DEMO_DSN": db.dsn}
        hostd: subprocess.Popen[bytes] | None = None
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
            with ThreadPoolExecutor(max_workers=25) as pool:  # users' traffic to judge by
                url = f"http://127.0.0.1:{odoo_port}/"
                list(pool.map(lambda _: requests.get(url, timeout=20), range(25)))
            hostd = subprocess.Popen(
                [*IPAI, "hostd", "serve", "--config", str(stack / "ipai.toml")],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_port(hostd_port, proc=hostd)
            url = f"http://127.0.0.1:{hostd_port}"
            headers = {"Authorization": f"Bearer {TOKEN}"}
            run_id = requests.post(
                f"{url}/api/exec", json={"action": "doctor"}, headers=headers, timeout=10
            ).json()["run_id"]
            started = time.monotonic()
            live, live_errors, running = burst(url, run_id, polls)
            burst_seconds = time.monotonic() - started
            alone = []  # one caller at a time: the service time without queueing
            for _ in range(50):
                began = time.perf_counter()
                requests.get(f"{url}/api/runs", params={"id": run_id}, headers=headers, timeout=10)
                alone.append(time.perf_counter() - began)
            while True:
                record = requests.get(
                    f"{url}/api/runs", params={"id": run_id}, headers=headers, timeout=10
                ).json()
                if record["status"] != "running":
                    break
                time.sleep(0.5)
            idle, idle_errors, _ = burst(url, run_id, polls)
        finally:
            if hostd is not None:
                hostd.terminate()
                hostd.wait(15)
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
