"""The committed-secrets scan on a large, real-shaped repository, against detect-secrets alone.

    .venv/bin/python bench/bench_secrets.py [--files 20000] [--megabytes 300]

Generates one git repository of about FILES tracked files and MEGABYTES of content shaped like
a stack repository with vendored addons (Python, XML views, .po translations of 20-200 KB,
READMEs, a few large binaries, minified assets on one line), with a handful of planted secrets.
In the same run it times, each in a process of its own so peak memory is its own:
- ``secrets.none_committed``'s scan (``scan_secrets``: a ``git grep -P`` prefilter built from
  the detectors' own patterns, then detect-secrets' detectors and filters on the candidates);
- ``detect-secrets scan`` on the same tree (its default plugins and filters).
Prints wall time, peak RSS and findings of both and the ratio. Goal: at most 1.5x detect-secrets,
peak memory under 200 MB. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
OURS = (
    "import sys; from pathlib import Path; from pytest_ipai.rules.secret_scan import scan_secrets; "
    "s = scan_secrets(Path(sys.argv[1]), []); print(len(s.findings), s.files_scanned)"
)
PLANTED = [
    ("deploy/.env.production", "POSTGRES_PASSWORD=Pg-Pr0d-2026-pooler\n"),
    ("config/app.yaml", "smtp:\n  password: Smtp-Relay-77x\n"),
    (
        "ops/id_deploy",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "b3BlbnNzaC1rZXktdjEAAAAA" * 3
        + "\n-----END OPENSSH PRIVATE KEY-----\n",
    ),
    ("scripts/release.sh", "export GITHUB_TOKEN=ghp_" + "a1B2c3D4e5" * 4 + "\n"),
]


def _text(rng: random.Random, size: int, line: str) -> str:
    lines = []
    total = 0
    while total < size:
        text = line.format(n=rng.randrange(10**6), w=rng.choice(WORDS))
        lines.append(text)
        total += len(text) + 1
    return "\n".join(lines) + "\n"


WORDS = ["partner", "invoice", "stock", "move", "account", "sale", "order", "line", "tax", "lot"]
KINDS = [  # (suffix, share of files, size range in bytes, line template; None: binary)
    (".py", 0.30, (800, 12000), "    {w}_{n} = fields.Char(string='{w} {n}')"),
    (".xml", 0.24, (1000, 15000), '  <field name="{w}_{n}" string="{w}"/>'),
    (".po", 0.05, (20000, 200000), 'msgid "{w} {n}"\nmsgstr "{w} {n}"'),
    (".rst", 0.15, (1000, 8000), "This module adds {w} number {n} to the form view."),
    (".csv", 0.10, (500, 6000), "{n},{w},{w}_{n}"),
    (".md", 0.13, (300, 3000), "- {w}: {n}"),
    (".png", 0.03, (2000, 20000), None),  # static/description icons and screenshots
]


def build(root: Path, files: int, megabytes: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    budget = megabytes * 1024 * 1024
    # a few large binaries and minified assets: what real repositories carry and scanners skip
    for index in range(4):
        path = root / "addons" / f"theme_{index}" / "static" / "img" / "hero.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(12 * 1024 * 1024))
        budget -= 12 * 1024 * 1024
    for index in range(20):
        path = root / "addons" / f"web_widget_{index}" / "static" / "lib" / "bundle.min.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"var a{n}=function(b){{return b*{n}}};" for n in range(40000)))
        budget -= path.stat().st_size
    made = 24
    while made < files and budget > 0:
        suffix, _share, (low, high), line = rng.choices(KINDS, weights=[k[1] for k in KINDS])[0]
        addon = f"addons/repo_{made % 19}/module_{made % 650}"
        folder = {".po": "i18n", ".png": "static/description"}.get(suffix, "models")
        path = root / f"{addon}/{folder}/f{made}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if line is None:
            data = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(low, high))
        else:
            data = _text(rng, rng.randint(low, high), line).encode()
        path.write_bytes(data)
        budget -= len(data)
        made += 1
    for name, text in PLANTED:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    subprocess.run([*GIT, "-C", str(root), "init", "-q"], check=True, timeout=120)
    subprocess.run([*GIT, "-C", str(root), "add", "-A"], check=True, timeout=1800)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", "tree"], check=True, timeout=1800)


# Runs the command and reports its own children's peak RSS: a fresh process per measurement,
# so one tool's peak never shows up as the other's.
WRAPPER = (
    "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(p.returncode)"
)


def timed(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, the command's peak RSS in MiB, and its stdout."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=7200, check=True)  # fmt: skip
    wall = time.perf_counter() - start
    return wall, int(proc.stderr.strip().splitlines()[-1]) / 1024, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--megabytes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-secrets-") as tmp:
        root = Path(tmp) / "stack"
        root.mkdir()
        started = time.perf_counter()
        build(root, args.files, args.megabytes)
        tracked = subprocess.run([*GIT, "-C", str(root), "ls-files"], capture_output=True,
                                 text=True, check=True, timeout=120).stdout.count("\n")  # fmt: skip
        size = sum(
            p.stat().st_size for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
        )
        print(f"tree: {tracked} tracked files, {size / 2**20:.0f} MiB, built in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        ours_wall, ours_rss, ours_out = timed([sys.executable, "-c", OURS, str(root)], root)
        ds = [sys.executable, "-m", "detect_secrets", "scan"]
        ds_wall, ds_rss, ds_out = timed(ds, root)
        ds_found = sum(len(v) for v in json.loads(ds_out)["results"].values())
        print(f"secrets.none_committed scan: {ours_wall:7.2f} s, peak {ours_rss:6.0f} MiB, "
              f"{ours_out.split()[0]} finding(s)")  # fmt: skip
        print(f"detect-secrets scan:         {ds_wall:7.2f} s, peak {ds_rss:6.0f} MiB, "
              f"{ds_found} finding(s)")  # fmt: skip
        print(f"ratio (ours / detect-secrets, wall): {ours_wall / ds_wall:.2f}x (goal <= 1.5x); "
              f"peak memory goal < 200 MiB")  # fmt: skip
    os.sync()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
