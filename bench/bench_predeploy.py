"""Pre-deploy suite at scale (issue: pre-deploy gates).

    .venv/bin/python bench/bench_predeploy.py [--shapes 19x100,250x16] [--rounds 3]

For each generated tree (REPOS x ADDONS per repo, each repo a git checkout), in this one run:
- the whole suite: ``ipai gate predeploy`` (evidence pack included), wall time;
- ``manifestoo list-depends --transitive`` for the same must-have set on the same tree;
- the floor: a bare Python process that finds and ``literal_eval``s every manifest;
- the dependency model's own work in-process (discover + resolve) against the floor in-process.
Prints medians and ratios. Goals: suite within 3x of manifestoo on ~2,000 addons; the model
within 3x of the floor. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from pytest_ipai.addons.addons_manifest import load_addons_manifest
from pytest_ipai.addons.stack import load_stack_addons
from pytest_ipai.config.stack import load_config

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
FLOOR = textwrap.dedent("""
    import ast, os, sys
    count = 0
    for root in sys.argv[1:]:
        for entry in os.scandir(root):
            path = os.path.join(entry.path, "__manifest__.py")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as fh:
                    ast.literal_eval(fh.read())
                count += 1
    print(count)
""")


def git(*args: str, cwd: Path) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def build(
    base: Path, repos: int, per_repo: int, seed: int = 7
) -> tuple[Path, list[Path], list[str]]:
    rng = random.Random(seed)
    stack = base / "stack"
    (stack / "config").mkdir(parents=True)
    names: list[str] = []
    entries = []
    roots = []
    for r in range(repos):
        repo = stack / "addons" / "oca" / f"repo{r:03d}"
        repo.mkdir(parents=True)
        for a in range(per_repo):
            name = f"r{r:03d}_m{a:03d}"
            deps = [*rng.sample(names[-300:], k=min(len(names), rng.randint(0, 3))), "base"]
            folder = repo / name
            folder.mkdir()
            (folder / "__init__.py").write_text("")
            (folder / "__manifest__.py").write_text(
                json.dumps(
                    {
                        "name": name,
                        "version": "18.0.1.0.0",
                        "license": "AGPL-3",
                        "depends": deps,
                        "data": [f"views/{name}.xml"],
                        "installable": True,
                    },
                    indent=4,
                ).replace("true", "True")
            )
            names.append(name)
        git("init", "-q", "-b", "18.0", cwd=repo)
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", "addons", cwd=repo)
        entries.append({"name": f"repo{r:03d}", "type": "git", "path": f"addons/oca/repo{r:03d}"})
        roots.append(repo)
    must = sorted(rng.sample(names, k=70))
    by_repo: dict[str, list[str]] = {}
    for module in must:
        by_repo.setdefault(f"repo{int(module[1:4]):03d}", []).append(module)
    ipai = stack / "addons" / "ipai"
    for i in range(10):
        folder = ipai / f"ipai_m{i}"
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / "__manifest__.py").write_text(
            repr({"name": f"ipai {i}", "version": "1.0.0", "depends": rng.sample(must, k=3)})
        )
    roots.append(ipai)
    (stack / "config" / "addons.json").write_text(
        json.dumps(
            {
                "version": 1,
                "series": "18.0",
                "oca_repositories": entries,
                "oca_must_have_modules": by_repo,
                "ipai": {"root": "addons/ipai"},
            }
        )
    )
    (stack / "odoo.conf").write_text(
        "[options]\nadmin_passwd = $pbkdf2-sha512$1$a$b\nlist_db = False\nworkers = 2\n"
    )
    (stack / "docker-compose.yml").write_text(
        "services:\n  odoo:\n    image: odoo:18.0@sha256:"
        + "0" * 64
        + "\n    ports: ['127.0.0.1:8069:8069']\n"
    )
    (stack / "ipai.toml").write_text(
        '[stack]\naddons_manifest = "config/addons.json"\nseries = "18.0"\n'
        'odoo_conf = "odoo.conf"\n'
        '[environments.dev]\ncompose_files = ["docker-compose.yml"]\nevidence_root = "evidence"\n'
    )
    (stack / ".gitignore").write_text("/evidence/\n/addons/oca/\n")
    git("init", "-q", "-b", "main", cwd=stack)
    git("add", "-A", cwd=stack)
    git("commit", "-q", "-m", "stack", cwd=stack)
    return stack, roots, must


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure(repos: int, per_repo: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ipai-bench-") as tmp:
        stack, roots, must = build(Path(tmp), repos, per_repo)
        bindir = os.path.dirname(sys.executable)
        ipai = [
            os.path.join(bindir, "ipai"),
            "gate",
            "predeploy",
            "--config",
            str(stack / "ipai.toml"),
        ]
        manifestoo = [
            os.path.join(bindir, "manifestoo"),
            "--addons-path",
            ",".join(map(str, roots)),
            "--odoo-series",
            "18.0",
            "--select-include",
            ",".join(must),
            "list-depends",
            "--transitive",
            "--ignore-missing",
        ]
        floor = [sys.executable, "-c", FLOOR, *map(str, roots)]
        suite, reference, bare = [], [], []
        for _ in range(rounds):
            suite.append(timed(ipai, stack))
            reference.append(timed(manifestoo, stack))
            bare.append(timed(floor, stack))
        config = load_config(stack / "ipai.toml")
        manifest = load_addons_manifest(config.addons_manifest, config.repo_root)
        model, scan = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            addons = load_stack_addons(config, manifest)
            addons.resolution()
            model.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(floor, check=True, capture_output=True, timeout=600)
            scan.append(time.perf_counter() - start)
        total = repos * per_repo + 10
        print(f"{repos} repos x {per_repo} addons ({total} addons), median of {rounds}")
        print(f"  ipai gate predeploy (11 gates, pack) {median(suite):6.2f}s")
        print(
            f"  manifestoo list-depends              {median(reference):6.2f}s   "
            f"suite/manifestoo {median(suite) / median(reference):4.2f}  (goal <= 3.0)"
        )
        print(f"  floor (find + literal_eval)          {median(bare):6.2f}s")
        print(
            f"  dependency model in-process          {median(model):6.2f}s   "
            f"model/floor {median(model) / median(scan):4.2f}  (goal <= 3.0; floor incl. start-up)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", default="19x100,250x16")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for shape in args.shapes.split(","):
        repos, per_repo = (int(x) for x in shape.split("x"))
        measure(repos, per_repo, args.rounds)


if __name__ == "__main__":
    main()
