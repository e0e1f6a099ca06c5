"""Our dependency closure against ``manifestoo list-depends`` (a test-only reference) on
generated trees.

Where we differ on purpose: manifestoo's list-depends does not add ``auto_install`` addons that
the selection triggers; Odoo installs them, so we do (and list them). Core addons are leaves for
both (neither has Odoo's sources here).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_ipai.addons.core import core_ce, core_ee
from pytest_ipai.addons.discovery import discover
from pytest_ipai.addons.graph import Node, resolve

SERIES = "18.0"
MANIFESTOO = shutil.which("manifestoo", path=os.path.dirname(sys.executable))


def generate(base: Path, seed: int, addons: int, auto_install: bool) -> list[Path]:
    rng = random.Random(seed)
    roots = [base / f"repo{i}" for i in range(3)]
    names = [f"mod_{seed}_{i:03d}" for i in range(addons)]
    for index, name in enumerate(names):
        # Depend only on earlier names (a DAG) and on a few core addons.
        depends = rng.sample(names[:index], k=min(index, rng.randint(0, 3)))
        depends += rng.sample(["base", "web", "mail", "account"], k=rng.randint(0, 2))
        auto = auto_install and index > 5 and rng.random() < 0.15
        root = roots[rng.randrange(len(roots))]
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / "__manifest__.py").write_text(
            f'{{"name": "{name}", "version": "{SERIES}.1.0.0", "depends": {depends!r}, '
            f'"auto_install": {auto}, "installable": True}}\n'
        )
    for root in roots:
        root.mkdir(exist_ok=True)
    return roots


def manifestoo_closure(roots: list[Path], selected: list[str]) -> set[str]:
    assert MANIFESTOO is not None, "manifestoo is a test dependency"
    proc = subprocess.run(
        [
            MANIFESTOO,
            "--addons-path",
            ",".join(map(str, roots)),
            "--odoo-series",
            SERIES,
            "--select-include",
            ",".join(selected),
            "list-depends",
            "--transitive",
            "--include-selected",
            "--ignore-missing",
            "--separator",
            ",",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {name for name in proc.stdout.strip().split(",") if name}


def ours(roots: list[Path], selected: list[str], base: Path) -> tuple[set[str], list[str]]:
    tree = discover(roots, base)
    nodes = {n: Node(n, a.depends, a.auto_install, a.installable) for n, a in tree.addons.items()}
    result = resolve(selected, nodes, core_ce(SERIES), core_ee(SERIES))
    everything = set(result.closure) | set(result.core) | {m.name for m in result.missing}
    return everything, result.auto_installed


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_same_closure_as_manifestoo_without_auto_install(tmp_path: Path, seed: int) -> None:
    roots = generate(tmp_path, seed, addons=60, auto_install=False)
    selected = sorted(random.Random(seed).sample([p.name for r in roots for p in r.iterdir()], k=4))
    mine, auto = ours(roots, selected, tmp_path)
    assert auto == []
    assert mine == manifestoo_closure(roots, selected)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_auto_install_is_the_only_difference(tmp_path: Path, seed: int) -> None:
    roots = generate(tmp_path, seed, addons=60, auto_install=True)
    names = sorted(p.name for r in roots for p in r.iterdir())
    selected = names[-5:]
    mine, auto = ours(roots, selected, tmp_path)
    assert auto, "the generated tree should trigger auto_install"
    reference = manifestoo_closure(roots, selected)
    assert reference <= mine
    extra = mine - reference
    # Everything extra came in with an auto_install addon (itself or its dependencies).
    with_auto = manifestoo_closure(roots, sorted(set(selected) | set(auto))) if auto else reference
    assert extra <= with_auto
    assert bool(extra) == bool(set(auto) - reference)
