"""A stack repository as users really have them, for ``ipai init``: dev, staging and prod as
compose overlays over one base file, an odoo.conf per environment, addons reached through a
bind mount and a named volume that is a bind in disguise, and the addons declared by five
files at once (our manifest, a git-aggregator file, a version 2 YAML manifest, another tool's
lock, a module list). Real git: OCA upstreams as bare repositories, checkouts cloned from them
and ignored the way git-aggregator output is. No ipai.toml: that is init's job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "demo"))
import build as demo
from gitrepo import head

OCA = {
    "queue": {"queue_job": ["base", "web"]},
    "web": {"web_responsive": ["web"], "web_environment_ribbon": ["web"]},
}
MUST_HAVE = {"queue": ["queue_job"], "web": ["web_responsive"]}
PROD_CONF = """[options]
addons_path = /usr/lib/python3/dist-packages/odoo/addons,/mnt/extra-addons/oca/queue,/mnt/extra-addons/oca/web,/mnt/extra-addons/ipai
admin_passwd = {admin}
db_name = {db}
db_host = db
list_db = False
proxy_mode = True
workers = {workers}
"""
BASE = """services:
  odoo:
    image: odoo:18.0@sha256:{odoo}
    depends_on: [db]
    ports:
      - "127.0.0.1:8069:8069"
    environment:
      HOST: db
      PASSWORD: ${{POSTGRES_PASSWORD}}
      IPAI_DSN: ${{IPAI_DSN:-}}
    volumes:
      - ./addons/oca:/mnt/extra-addons/oca:ro
      - ipai_addons:/mnt/extra-addons/ipai
  db:
    image: postgres:16@sha256:{db}
    environment:
      POSTGRES_PASSWORD: ${{POSTGRES_PASSWORD}}
volumes:
  ipai_addons:
    driver: local
    driver_opts:
      type: none
      o: bind
      device: ./addons/ipai
"""
OVERLAY = """services:
  odoo:
    volumes:
      - ./config/{env}/odoo.conf:/etc/odoo/odoo.conf:ro
"""
PROD_OVERLAY = """services:
  odoo:
    ports: !reset []
    volumes:
      - ./config/prod/odoo.conf:/etc/odoo/odoo.conf:ro
  proxy:
    image: nginx:1.27@sha256:{nginx}
    ports:
      - "80:80"
      - "443:443"
"""

WORKFLOW = """name: ci
on: [push]
jobs:
  gates:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install pytest-ipai
      - run: ipai gate predeploy
"""


def upstreams(dest: Path) -> Path:
    """Bare OCA repositories with a 18.0 branch each."""
    upstream = dest / "upstream"
    for repo, addons in OCA.items():
        work = dest / "work" / repo
        work.mkdir(parents=True)
        demo.git("init", "-q", "-b", demo.SERIES, cwd=work)
        for name, depends in addons.items():
            demo.write_addon(work, name, depends)
        demo.commit_all(work, f"[{demo.SERIES}] {repo}")
        demo.git("clone", "-q", "--bare", str(work), str(upstream / f"{repo}.git"), cwd=dest)
    return upstream


def build(dest: Path, submodules: bool = False) -> Path:
    """The stack; ``submodules``: the OCA checkouts are git submodules and ``.gitmodules`` is
    the only file that names their paths (no manifest, no git-aggregator file)."""
    upstreams(dest)
    stack = dest / "stack"
    stack.mkdir()
    demo.git("init", "-q", "-b", "main", cwd=stack)
    url = {repo: f"../upstream/{repo}.git" for repo in OCA}
    write(stack, "docker-compose.yml", BASE.format(odoo=demo.digest("odoo"), db=demo.digest("pg")))
    for env in ("dev", "staging"):
        write(stack, f"docker-compose.{env}.yml", OVERLAY.format(env=env))
    write(stack, "docker-compose.prod.yml", PROD_OVERLAY.format(nginx=demo.digest("nginx")))
    strong = demo.pbkdf2_hash("adopted stack master password")
    for env, workers in (("dev", 0), ("staging", 2), ("prod", 4)):
        conf = PROD_CONF.format(admin=strong, db=f"{env}_db", workers=workers)
        write(stack, f"config/{env}/odoo.conf", conf)
    for name, depends in {"ipai_core": ["queue_job", "web_responsive"]}.items():
        demo.write_addon(stack / "addons" / "ipai", name, depends)
    for repo in OCA:
        if submodules:
            demo.git(
                "-c", "protocol.file.allow=always", "submodule", "add", "-q", "-b", demo.SERIES,
                url[repo], f"addons/oca/{repo}", cwd=stack,
            )  # fmt: skip
        else:
            demo.git("clone", "-q", "-b", demo.SERIES, url[repo], f"addons/oca/{repo}", cwd=stack)
    manifest = {
        "version": 1,
        "series": demo.SERIES,
        "roots": {"oca_root": "addons/oca", "ipai_root": "addons/ipai"},
        "oca_repositories": [
            {"name": r, "type": "git", "url": url[r], "path": f"addons/oca/{r}"} for r in OCA
        ],
        "oca_must_have_modules": MUST_HAVE,
        "ipai": {"root": "addons/ipai"},
    }
    write(stack, "config/addons_manifest.oca_ipai.json", json.dumps(manifest, indent=2) + "\n")
    aggregate = "".join(
        f"./addons/oca/{r}:\n  remotes:\n    oca: {url[r]}\n  merges:\n    - oca {demo.SERIES}\n"
        for r in OCA
    )
    write(stack, "oca-aggregate.yml", aggregate)
    v2 = "version: 2\nodoo_version: '18.0'\noca_repositories:\n" + "".join(
        f"  - repo: {r}\n    url: {url[r]}\n    ref: '{demo.SERIES}'\n"
        f"    must_have: [{', '.join(MUST_HAVE[r])}]\n"
        for r in OCA
    )
    write(stack, "config/addons.manifest.yaml", v2)
    lock = {
        "version": "2.0.0",
        "description": "pinned by our release script",
        "repositories": {
            r: {
                "url": url[r],
                "branch": demo.SERIES,
                "commit": head(stack / "addons" / "oca" / r),
                "tier": 0,
                "modules": MUST_HAVE[r],
            }
            for r in OCA
        },
    }
    write(stack, "oca.lock.json", json.dumps(lock, indent=2) + "\n")
    write(stack, "config/ship_set.txt", "# what the image installs\nqueue_job\nweb_responsive\n")
    write(stack, ".github/workflows/ci.yml", WORKFLOW)
    if submodules:
        for name in ("config/addons_manifest.oca_ipai.json", "oca-aggregate.yml"):
            (stack / name).unlink()
    else:
        write(stack, ".gitignore", "/addons/oca/*/\n")
        write(stack, "addons/oca/.gitkeep", "")
    demo.commit_all(stack, "an existing stack")
    return stack


def write(stack: Path, name: str, text: str) -> None:
    path = stack / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
