"""Time-to-verdict of http.health when the stack is down or hangs (issue: post-deploy gates).

    .venv/bin/python bench/bench_health.py

Runs the gate through ``ipai gate postdeploy`` against (a) a port where nothing listens and
(b) the Odoo stand-in hanging every request, and prints the gate's own duration against its
budget: retries x timeout + the backoff sleeps. Goal: within the budget plus one second.
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
from conftest import Standin  # noqa: E402
from loopback import free_port  # noqa: E402

RETRIES, TIMEOUT, BACKOFF = 3, 2.0, 0.5


ORIGINAL: dict[Path, str] = {}


def run_gate(stack: Path, url: str) -> float:
    config = stack / "ipai.toml"
    text = ORIGINAL.setdefault(config, config.read_text()).replace(
        'base_url = "http://127.0.0.1:8069"', f'base_url = "{url}"', 1
    )
    policy = stack / "bench-policy.toml"
    policy.write_text(
        f'[gates."http.health"]\nparams = {{ retries = {RETRIES}, timeout = {TIMEOUT}, backoff = {BACKOFF} }}\n'
    )
    config.write_text(
        text.replace(
            'evidence_root = "evidence"\n', f'evidence_root = "evidence"\npolicy = "{policy}"\n', 1
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ipai_ops.cli",
            "gate",
            "postdeploy",
            "--config",
            str(config),
            "--",
            "-k",
            "health",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    packs = [line for line in proc.stdout.splitlines() if line.startswith("pack: ")]
    if not packs:
        raise SystemExit(f"ipai gate failed: {proc.stderr.strip() or proc.stdout[-500:]}")
    pack = Path(packs[-1][6:])
    (result,) = [
        r
        for r in json.loads((pack / "results.json").read_text())["results"]
        if r["gate_id"] == "http.health"
    ]
    assert result["status"] == "fail", result
    return float(result["duration"])


def main() -> None:
    backoff_total = sum(BACKOFF * 2**i for i in range(RETRIES - 1))
    with tempfile.TemporaryDirectory(prefix="ipai-bench-health-") as tmp:
        stack = demo_build.build(Path(tmp) / "demo")
        down = run_gate(stack, f"http://127.0.0.1:{free_port()}")
        print(
            f"stack down (refused): verdict in {down:5.2f}s; budget {backoff_total:.2f}s + 1s "
            f"({'within' if down <= backoff_total + 1 else 'OVER'})"
        )
        server = Standin(None, Path(tmp) / "odoo.log", "--hang", "60")
        try:
            start = time.monotonic()
            hung = run_gate(stack, server.url)
            budget = RETRIES * TIMEOUT + backoff_total
            print(
                f"stack hanging:        verdict in {hung:5.2f}s; budget {budget:.2f}s + 1s "
                f"({'within' if hung <= budget + 1 else 'OVER'}); whole run {time.monotonic() - start:.1f}s"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
