"""Plugin overhead and pack publishing time (issue: plugin core).

    .venv/bin/python bench/bench_plugin.py [--gates 500] [--rounds 5]

1. The same suite of N trivial gates, run by plain pytest (plugin disabled) and with the
   pytest-ipai plugin (results, journal, pack), alternating, in this one run: medians and ratio.
   Both without xdist and with ``-n 2``. Goal: ratio at most 1.3.
2. Publishing a pack of N results (one blob each): median seconds. Goal: under 0.5 s.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_ipai.config.policy import load_policy
from pytest_ipai.core.results import BlobRef, GateResult
from pytest_ipai.evidence.pack import Staging
from pytest_ipai.evidence.publish import publish_run


def make_project(root: Path, gates: int, probe_ms: float = 0.0) -> None:
    lines = ["import time", "import pytest", ""]
    body = f"    time.sleep({probe_ms / 1000!r})" if probe_ms else "    pass"
    for i in range(gates):
        lines += [
            "@pytest.mark.predeploy",
            f'@pytest.mark.gate("bench.g{i:04d}")',
            f"def test_g{i:04d}():",
            body,
            "",
        ]
    (root / "test_gates.py").write_text("\n".join(lines))
    # The bundled gates do not belong to this synthetic suite.
    policy = ['suite = "predeploy"']
    for gate in sorted(load_policy().gates):
        policy += [f'[gates."{gate}"]', "enabled = false"]
    policy += [f'[gates."bench.g{i:04d}"]' for i in range(gates)]
    (root / "policy.toml").write_text("\n".join(policy) + "\n")
    (root / "addons.json").write_text('{"version": 1, "oca_repositories": []}')
    (root / "ipai.toml").write_text(
        '[stack]\naddons_manifest = "addons.json"\n'
        '[environments.bench]\npolicy = "policy.toml"\nevidence_root = "evidence"\n'
    )


# Both runs load exactly the same plugins (autoload off), so an unrelated plugin installed in
# the environment (hypothesis, say) weighs on neither side. Bytecode is cached as an installed
# package has it (pip compiles it): PYTHONDONTWRITEBYTECODE, where a machine sets it, would make
# every run compile the plugin's sources, which no installation does.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
PLUGINS = ["-p", "xdist.plugin", "-p", "xdist.looponfail", "-p", "pytest_timeout"]


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False, env=ENV
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed ({proc.returncode}): {proc.stdout[-2000:]}")
    return elapsed


def overhead(root: Path, rounds: int, xdist: list[str]) -> tuple[float, float]:
    base = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "predeploy",
        *xdist,
        "test_gates.py",
    ]
    plain = [*base, *PLUGINS, "-W", "ignore::pytest.PytestUnknownMarkWarning"]
    plugged = [*base, *PLUGINS, "-p", "pytest_ipai.plugin", "--ipai-config", "ipai.toml"]
    plain_times, plugged_times = [], []
    timed(plain, root)  # warm-up: bytecode written, page cache warm, for both sides
    timed(plugged, root)
    for _ in range(rounds):
        plain_times.append(timed(plain, root))
        plugged_times.append(timed(plugged, root))
    return statistics.median(plain_times), statistics.median(plugged_times)


def compare(root: Path, rounds: int, goal: str) -> None:
    for label, xdist in (("no xdist", []), ("-n 2", ["-n", "2"])):
        plain, plugged = overhead(root, rounds, xdist)
        print(
            f"  {label:<9} plain pytest {plain:6.2f}s  with pytest-ipai {plugged:6.2f}s  "
            f"ratio {plugged / plain:4.2f}{goal}"
        )


def publish_time(root: Path, gates: int, rounds: int) -> tuple[float, float]:
    record_times, publish_times = [], []
    manifest = {
        "schema": "ipai/evidence-manifest/1",
        "suite": "predeploy",
        "scope": "predeploy",
        "env": "bench",
        "started_at": "2026-11-24T18:00:00.000Z",
        "finished_at": "2026-11-24T18:00:00.000Z",
        "interrupted": False,
        "host": "bench",
        "user": "bench",
        "tools": {"pytest-ipai": "bench", "python": "3"},
        "git": {"available": False, "reason": "bench"},
        "addons_repos": [],
        "image_digests": {},
    }
    for round_no in range(rounds):
        run_id = f"bench-{round_no}"
        start = time.perf_counter()
        staging = Staging(root, run_id)
        staging.journal.append("start", {"run_id": run_id, "expected": []})
        results = []
        for i in range(gates):
            digest = staging.add_blob(f"probe output {i}\n".encode() * 20)
            result = GateResult(
                gate_id=f"bench.g{i:04d}",
                suite="predeploy",
                status="pass",
                host="bench",
                measurements={"value": i},
                blobs=[BlobRef("probe.txt", digest, 300)],
            )
            staging.record(result)
            results.append(result)
        middle = time.perf_counter()
        publish_run(staging, manifest=dict(manifest, run_id=run_id), results=results, expected=[])
        end = time.perf_counter()
        record_times.append(middle - start)
        publish_times.append(end - middle)
    return statistics.median(record_times), statistics.median(publish_times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gates", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipai-bench-") as tmp:
        root = Path(tmp)
        make_project(root, args.gates)
        print(f"suite of {args.gates} trivial gates, median of {args.rounds} alternating runs")
        compare(root, args.rounds, goal="  (goal <= 1.30)")
        # The same suite where each gate does 5 ms of probing, as a cheap real probe would.
        make_project(root, args.gates, probe_ms=5.0)
        print(f"suite of {args.gates} gates that each probe for 5 ms")
        compare(root, args.rounds, goal="")
        record, publish = publish_time(root / "packs", args.gates, args.rounds)
        print(
            f"pack of {args.gates} results: journaling {record:5.3f}s, "
            f"publishing {publish:5.3f}s  (goal < 0.50s)"
        )


if __name__ == "__main__":
    main()
