"""Addons trees shaped like real OCA checkouts, for the benchmarks.

A real 16.0 OCA tree of 19 repositories and 657 addons holds 21,451 work-tree files and 161 MB
with shallow clones: about 33 files and 250 KB per addon. Each generated addon has what OCA's
template gives every addon: ``__manifest__.py`` and ``__init__.py``, models, views, security,
data, tests, ``README.rst`` and ``readme/*.md`` fragments, ``static/description/`` (index.html,
an icon and a screenshot, both binary), ``i18n/`` with a ``.pot`` and several ``.po`` files
(most of a few KB to tens of KB, one addon in twenty with big ones of 20-200 KB). Each
repository is committed upstream with two commits and checked out as a shallow clone
(``--depth 1``), as CI and most deploy scripts clone it.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
LANGS = ["de", "es", "fr", "it", "nl", "pt_BR", "ca", "hr", "zh_CN", "sv", "fr_CA", "es_AR"]
WORDS = ["partner", "invoice", "stock", "move", "account", "sale", "order", "line", "tax", "lot"]


def git(*args: str, cwd: Path) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=600)


def _lines(rng: random.Random, size: int, template: str) -> str:
    out, total = [], 0
    while total < size:
        line = template.format(n=rng.randrange(10**6), w=rng.choice(WORDS))
        out.append(line)
        total += len(line) + 1
    return "\n".join(out) + "\n"


def _po_size(rng: random.Random, big: bool) -> int:
    low, high = (20_000, 200_000) if big else (2_000, 30_000)
    return int(low * (high / low) ** rng.random())  # log-uniform: most are small


def write_addon(folder: Path, name: str, depends: list[str], rng: random.Random) -> int:
    """One addon with the file mix of an OCA one; returns how many files it wrote."""
    files: dict[str, str | bytes] = {
        "__init__.py": "from . import models\n",
        "__manifest__.py": repr(
            {
                "name": name.replace("_", " ").title(),
                "summary": f"Adds {rng.choice(WORDS)} fields",
                "version": "16.0.1.0.0",
                "category": "Tools",
                "website": "https://github.com/OCA/example",
                "author": "Odoo Community Association (OCA)",
                "license": "AGPL-3",
                "depends": depends,
                "data": ["security/ir.model.access.csv", f"views/{name}_views.xml"],
                "installable": True,
            }
        ),
        "models/__init__.py": f"from . import {name}\n",
        f"models/{name}.py": _lines(rng, rng.randint(1500, 9000), "    {w}_{n} = fields.Char()"),
        f"models/res_{rng.choice(WORDS)}.py": _lines(rng, 1500, "    {w}_{n} = fields.Integer()"),
        f"views/{name}_views.xml": _lines(rng, rng.randint(1500, 12000), '<field name="{w}_{n}"/>'),
        f"views/{name}_menus.xml": _lines(rng, 800, '<menuitem id="{w}_{n}"/>'),
        "security/ir.model.access.csv": _lines(rng, 400, "access_{w}_{n},{w},model_{w},,1,1,1,1"),
        "data/data.xml": _lines(rng, 600, '<record id="{w}_{n}" model="ir.config_parameter"/>'),
        "tests/__init__.py": f"from . import test_{name}\n",
        f"tests/test_{name}.py": _lines(rng, 2500, "        self.assertTrue(self.{w}_{n})"),
        "tests/common.py": _lines(rng, 900, "        cls.{w}_{n} = cls.env['{w}'].create({{}})"),
        "README.rst": _lines(rng, rng.randint(2500, 7000), "This module adds {w} {n}."),
        "readme/DESCRIPTION.md": _lines(rng, 500, "Adds {w} number {n}."),
        "readme/USAGE.md": _lines(rng, 400, "1. Open {w} {n}"),
        "readme/CONTRIBUTORS.md": _lines(rng, 200, "- {w} {n} <{w}@example.invalid>"),
        "readme/CONFIGURE.md": _lines(rng, 200, "Go to Settings > {w} {n}"),
        "static/description/index.html": _lines(rng, 9000, "<p>{w} {n}</p>"),
        "static/description/icon.png": b"\x89PNG\r\n\x1a\n" + rng.randbytes(9000),
        "static/description/screenshot.png": b"\x89PNG\r\n\x1a\n" + rng.randbytes(30000),
        f"i18n/{name}.pot": _lines(rng, 3000, 'msgid "{w} {n}"\nmsgstr ""'),
    }
    big = rng.random() < 0.05
    for lang in rng.sample(LANGS, k=rng.randint(6, 12)):
        size = _po_size(rng, big)
        files[f"i18n/{lang}.po"] = _lines(rng, size, 'msgid "{w} {n}"\nmsgstr "{w} {n}"')
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return len(files)


def oca_repository(
    upstream: Path, checkout: Path, addons: list[tuple[str, list[str]]], rng: random.Random
) -> int:
    """An upstream repository with two commits, checked out shallow at ``checkout``."""
    upstream.mkdir(parents=True)
    for name, depends in addons[: len(addons) // 2 or 1]:
        write_addon(upstream / name, name, depends, rng)
    git("init", "-q", "-b", "16.0", cwd=upstream)
    git("add", "-A", cwd=upstream)
    git("commit", "-q", "-m", "[ADD] first addons", cwd=upstream)
    files = 0
    for name, depends in addons[len(addons) // 2 or 1 :]:
        files += write_addon(upstream / name, name, depends, rng)
    (upstream / "README.md").write_text(f"# {upstream.name}\n\nAddons of {upstream.name}.\n")
    (upstream / "setup").mkdir()
    (upstream / "setup" / "_metapackage.txt").write_text("metapackage\n")
    git("add", "-A", cwd=upstream)
    git("commit", "-q", "-m", "[ADD] more addons", cwd=upstream)
    checkout.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "-q", "--depth", "1", "-b", "16.0", upstream.as_uri(), str(checkout), cwd=upstream)
    return files


def build_stack(
    base: Path, addons: int, repos: int, seed: int = 7
) -> tuple[Path, list[Path], list[str]]:
    """A stack repository with ``repos`` shallow OCA clones holding ``addons`` addons in all,
    ten in-house ``ipai_*`` addons, odoo.conf, compose and ipai.toml; its roots on addons_path
    and the must-have modules (70)."""
    rng = random.Random(seed)
    stack = base / "stack"
    (stack / "config").mkdir(parents=True)
    names: list[str] = []
    plan: list[list[tuple[str, list[str]]]] = [[] for _ in range(repos)]
    for index in range(addons):
        name = f"{rng.choice(WORDS)}_{index:04d}"
        deps = [*rng.sample(names[-300:], k=min(len(names), rng.randint(0, 3))), "base"]
        plan[index % repos].append((name, deps))
        names.append(name)
    entries, roots = [], []
    must_by_repo: dict[str, list[str]] = {}
    must = sorted(rng.sample(names, k=min(70, len(names))))
    for number, members in enumerate(plan):
        repo = f"repo{number:03d}"
        checkout = stack / "addons" / "oca" / repo
        oca_repository(base / "upstream" / repo, checkout, members, rng)
        entries.append({"name": repo, "type": "git", "path": f"addons/oca/{repo}"})
        roots.append(checkout)
        picked = sorted(set(must) & {n for n, _ in members})
        if picked:
            must_by_repo[repo] = picked
    ipai = stack / "addons" / "ipai"
    for i in range(10):
        write_addon(ipai / f"ipai_m{i}", f"ipai_m{i}", rng.sample(must, k=3), rng)
    roots.append(ipai)
    (stack / "config" / "addons.json").write_text(
        json.dumps(
            {
                "version": 1,
                "series": "16.0",
                "oca_repositories": entries,
                "oca_must_have_modules": must_by_repo,
                "ipai": {"root": "addons/ipai"},
            },
            indent=2,
        )
    )
    (stack / "odoo.conf").write_text(
        "[options]\nadmin_passwd = $pbkdf2-sha512$1$a$b\nlist_db = False\nworkers = 2\n"
        "proxy_mode = True\n"
    )
    (stack / "docker-compose.yml").write_text(
        "services:\n  odoo:\n    image: odoo:16.0@sha256:"
        + "0" * 64
        + "\n    ports: ['127.0.0.1:8069:8069']\n"
    )
    (stack / "ipai.toml").write_text(
        '[stack]\naddons_manifest = "config/addons.json"\nseries = "16.0"\n'
        'odoo_conf = "odoo.conf"\n'
        '[environments.dev]\ncompose_files = ["docker-compose.yml"]\nevidence_root = "evidence"\n'
    )
    (stack / ".gitignore").write_text("/evidence/\n/addons/oca/\n")
    workflow = stack / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "on: [push]\njobs:\n  gates:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: pip install pytest-ipai\n"
        "      - run: ipai gate predeploy --config ipai.toml\n"
    )
    git("init", "-q", "-b", "main", cwd=stack)
    git("add", "-A", cwd=stack)
    git("commit", "-q", "-m", "stack", cwd=stack)
    return stack, roots, must
