"""The deploy driver on the container test bed (issue: deploy drivers).

    .venv/bin/python bench/bench_deploy.py

1. Overhead: ``ipai deploy`` of a release against the raw steps it drives, timed in the same
   process on the same stack: ``podman-compose up -d`` plus ``ipai gate postdeploy``. The
   driver also runs the pre-deploy suite, a verified backup and the upgrade; those are steps of
   its own, so two figures are printed: the driver's bookkeeping (its wall time minus the sum of
   its steps' durations) as a share of the raw steps, and the whole run against them.
   Goal: bookkeeping under 10%.
2. Time from the first failing probe to a completed rollback: a release whose Odoo never starts;
   from the health gate's first failed attempt to the end of the re-verification.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "examples" / "demo"))
import build as demo_build  # noqa: E402
from conftest import IPAI  # noqa: E402
from deploy_bed import git, make_deploy_bed  # noqa: E402
from odoo_db import drop_test_databases  # noqa: E402
from podman_bed import Bed  # noqa: E402

from pytest_ipai.core.timeutil import parse_iso  # noqa: E402


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[:4]} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.monotonic() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        base_dir = Path(tmp)
        stack = demo_build.build(base_dir / "demo")
        bed = Bed(base_dir / "bed")
        site = make_deploy_bed(stack, bed, base_dir)
        env = site.env()
        compose = [sys.executable, "-m", "podman_compose", "-p", site.project]
        try:
            base = site.release("base")
            git(site.host, "fetch", "-q", "origin")
            git(site.host, "reset", "-q", "--hard", base)
            assert site.deploy(base).returncode == 0

            # 1. overhead
            raw = []
            for flags in (["--traceback-every", "0"], []):
                sha = site.release("raw", flags=flags)
                git(site.host, "fetch", "-q", "origin")
                git(site.host, "reset", "-q", "--hard", sha)
                up = timed([*compose, "-f", "deploy/compose.yaml", "up", "-d"], env, site.host)
                time.sleep(1)  # the driver's settle_seconds
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                suite = timed(
                    [
                        *IPAI,
                        "gate",
                        "postdeploy",
                        "--config",
                        str(site.config),
                        "--",
                        "--ipai-decide",
                        "--ipai-since",
                        since,
                    ],
                    env,
                )
                raw.append(up + 1 + suite)
            reference = min(raw)
            sha = site.release("measured", files=site.bump("18.0.1.0.1"))
            wall = timed([*IPAI, "deploy", "--config", str(site.config), "--ref", sha], env)
            result = site.result()
            steps = sum(s["duration"] for s in result["steps"])
            driven = sum(
                s["duration"] for s in result["steps"] if s["name"] in ("compose_up", "postdeploy")
            )
            print(f"raw compose up + settle + post-deploy suite: {reference:.2f}s (best of 2)")
            print(
                f"ipai deploy: {wall:.2f}s wall, steps {steps:.2f}s "
                f"(compose_up + postdeploy {driven:.2f}s)"
            )
            for step in result["steps"]:
                print(f"  {step['name']:<16} {step['duration']:7.2f}s")
            bookkeeping = wall - steps
            print(
                f"driver bookkeeping: {bookkeeping:.2f}s = {bookkeeping / reference:.1%} of the "
                "raw steps (goal < 10%)"
            )
            print(
                f"driven steps vs raw: {driven / reference:.2f}x; whole deploy vs raw: "
                f"{wall / reference:.2f}x (it also runs pre-deploy, backup and upgrade)"
            )

            # 2. first failing probe -> completed rollback
            bad = site.release("never starts", flags=["--start-delay", "600"])
            timed([*IPAI, "deploy", "--config", str(site.config), "--ref", bad], env)
            result = site.result()
            post = Path(result["evidence"]["postdeploy"])
            gates = json.loads((post / "results.json").read_text())["results"]
            health = next(r for r in gates if r["gate_id"] == "http.health")
            first = parse_iso(health["attempts"][0]["at"])
            done = parse_iso(result["finished_at"])
            for step in result["steps"]:
                print(f"  {step['name']:<16} {step['duration']:7.2f}s  {step['detail'][:60]}")
            print(
                f"rollback: overall {result['overall']} by {result['rule']}; first failing probe "
                f"-> rollback verified and recorded: {(done - first).total_seconds():.2f}s"
            )
        finally:
            subprocess.run(
                [*compose, "-f", str(site.host / "deploy/compose.yaml"), "down", "-t", "1"],
                env=env,
                capture_output=True,
                timeout=120,
                check=False,
            )
            bed.close()
            drop_test_databases(site.db.name)
            site.proxy.close()


if __name__ == "__main__":
    main()
