"""Build the demo stack: a stack repository with OCA-style addon repositories as git checkouts.

    python examples/demo/build.py DEST            every pre-deploy gate passes
    python examples/demo/build.py DEST --broken   every pre-deploy gate fails, each with its class

DEST/upstream/<repo>.git  bare repositories standing in for github.com/OCA/<repo> (branch 18.0)
DEST/stack/               the stack repository: ipai.toml, the addons manifest, addons/ipai/*,
                          and addons/oca/<repo> cloned from upstream at 18.0

Everything is made locally with git (argv, no shell); nothing is fetched.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERIES = "18.0"
GIT_IDENTITY = ["-c", "user.name=Demo Maintainer", "-c", "user.email=demo@example.invalid"]

# repo -> addon -> depends
OCA = {
    "queue": {"queue_job": ["base", "web"], "queue_job_cron_jobrunner": ["queue_job"]},
    "server-tools": {"base_technical_user": ["base"], "module_auto_update": ["base"]},
    "web": {"web_responsive": ["web"], "web_environment_ribbon": ["web"]},
}
IPAI = {"ipai_core": ["queue_job", "web_responsive"], "ipai_reports": ["ipai_core"]}


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", *GIT_IDENTITY, *args],
        cwd=cwd,
        check=True,
        timeout=60,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def write_addon(root: Path, name: str, depends: list[str]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    title = name.replace("_", " ").title()
    (folder / "__manifest__.py").write_text(
        "{\n"
        f'    "name": "{title}",\n'
        f'    "version": "{SERIES}.1.0.0",\n'
        '    "license": "AGPL-3",\n'
        '    "author": "Demo, Odoo Community Association (OCA)",\n'
        f'    "depends": {depends!r},\n'
        '    "data": [],\n'
        '    "installable": True,\n'
        "}\n".replace("'", '"')
    )


ODOO_CONF = """[options]
addons_path = /mnt/oca/queue,/mnt/oca/server-tools,/mnt/oca/web,/mnt/ipai
admin_passwd = {admin_passwd}
db_host = db
db_user = odoo
list_db = False
proxy_mode = True
workers = 2
max_cron_threads = 1
limit_time_real = 1200
"""

COMPOSE = """services:
  odoo:
    image: odoo:18.0@sha256:{odoo_digest}
    depends_on: [db]
    ports:
      - "{odoo_port}"
    volumes:
      - ./odoo.conf:/etc/odoo/odoo.conf:ro
  db:
    image: postgres:15@sha256:{db_digest}
    environment:
      POSTGRES_USER: odoo
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
"""

WORKFLOW = """name: ci
on: [push]
jobs:
  predeploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: pre-deploy gates
        run: {gate_command}
"""


def pbkdf2_hash(password: str) -> str:
    """Odoo's hashed master password format ($pbkdf2-sha512$rounds$salt$hash, passlib's ab64)."""
    salt = hashlib.sha256(b"demo-salt").digest()[:16]
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 600_000)

    def ab64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=").replace("+", ".")

    return f"$pbkdf2-sha512$600000${ab64(salt)}${ab64(digest)}"


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def write_stack_files(stack: Path, broken: bool) -> None:
    (stack / "odoo.conf").write_text(
        ODOO_CONF.format(
            admin_passwd="admin"
            if broken
            else pbkdf2_hash("demo master password, not for production")
        )
    )
    (stack / "docker-compose.yml").write_text(
        COMPOSE.format(
            odoo_digest=digest("odoo"),
            db_digest=digest("postgres"),
            odoo_port="8069:8069" if broken else "127.0.0.1:8069:8069",
        )
    )
    # A second file that declares the addons: the image build installs this module list, and
    # addons.manifest_sync holds it to the manifest (broken: one module the manifest lacks).
    ship = ["queue_job", "queue_job_cron_jobrunner", "base_technical_user", "web_responsive"]
    ship += ["mail_tracking"] if broken else []
    (stack / "config" / "ship_set.txt").write_text(
        "# modules the image installs\n" + "\n".join(ship) + "\n"
    )
    workflow = stack / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    command = "ipai gate predeploy --config ipai.toml"
    workflow.write_text(WORKFLOW.format(gate_command=command + (" || true" if broken else "")))


def break_addons(stack: Path) -> None:
    """One fault per addons gate."""
    ipai = stack / "addons" / "ipai"
    write_addon(ipai, "ipai_broken_manifest", ["base"])  # manifest_syntax_error
    (ipai / "ipai_broken_manifest" / "__manifest__.py").write_text(
        '{"name": "Broken",\n "depends": ["base"\n'
    )
    write_addon(ipai, "queue_job", ["base"])  # duplicate_module: a copy of an OCA addon
    write_addon(ipai, "ipai_studio", ["web_studio", "ipai_core"])  # core_ee_on_community
    write_addon(ipai, "ipai_missing_dep", ["ipai_core", "sale_subscription_oca"])  # unresolved
    write_addon(ipai, "ipai_cycle_a", ["ipai_cycle_b"])  # dependency_cycle
    write_addon(ipai, "ipai_cycle_b", ["ipai_cycle_a"])
    conflict = "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> feature\n"
    (ipai / "ipai_core" / "data").mkdir(exist_ok=True)
    (ipai / "ipai_core" / "data" / "records.xml").write_text(conflict)  # merge_conflict
    (ipai / "ipai_core" / "README.rst").write_text(conflict)  # in docs: a notice only
    token = "ghp_" + "DemoLeakedToken0123456789abcdefghijkl"
    (stack / "deploy.env").write_text(f"GITHUB_TOKEN={token}\n")


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


def write_lock(stack: Path) -> None:
    lock = {}
    for repo in OCA:
        checkout = stack / "addons" / "oca" / repo
        commit = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        lock[repo] = {"url": f"../upstream/{repo}.git", "ref": SERIES, "commit": commit}
    (stack / "oca.lock.json").write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")


def build(dest: Path, broken: bool = False) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    upstream = dest / "upstream"
    stack = dest / "stack"
    for repo, addons in OCA.items():
        work = dest / "work" / repo
        work.mkdir(parents=True)
        git("init", "-q", "-b", SERIES, cwd=work)
        for name, depends in addons.items():
            write_addon(work, name, depends)
        commit_all(work, f"[{SERIES}] {repo}: initial addons")
        git("clone", "-q", "--bare", str(work), str(upstream / f"{repo}.git"), cwd=dest)
    shutil.rmtree(dest / "work")

    stack.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=stack)
    shutil.copy(HERE / "ipai.toml", stack / "ipai.toml")
    (stack / "config").mkdir()
    shutil.copy(
        HERE / "addons_manifest.oca_ipai.json", stack / "config" / "addons_manifest.oca_ipai.json"
    )
    for name, depends in IPAI.items():
        write_addon(stack / "addons" / "ipai", name, depends)
    (stack / ".gitignore").write_text("/evidence/\n/addons/oca/\n")
    write_stack_files(stack, broken)
    for repo in OCA:
        source = str(upstream / f"{repo}.git")
        git("clone", "-q", "-b", SERIES, source, f"addons/oca/{repo}", cwd=stack)
    write_lock(stack)
    if broken:
        break_addons(stack)
        manifest = stack / "config" / "addons_manifest.oca_ipai.json"
        data = json.loads(manifest.read_text())
        # must_have_not_found: a module listed under the wrong repository
        data["oca_must_have_modules"]["queue"].append("base_technical_user")
        data["oca_must_have_modules"]["server-tools"].remove("base_technical_user")
        manifest.write_text(json.dumps(data, indent=2) + "\n")
    commit_all(stack, "demo stack")
    if broken:
        shutil.rmtree(stack / "addons" / "oca" / "web")  # repo_missing
        queue = stack / "addons" / "oca" / "queue"  # repo_ref_mismatch
        git("checkout", "-q", "-b", "my-local-fix", cwd=queue)
        git("commit", "-q", "--allow-empty", "-m", "local fix", cwd=queue)
    return stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--broken", action="store_true", help="one fault for every pre-deploy gate")
    args = parser.parse_args()
    try:
        stack = build(args.dest.resolve(), broken=args.broken)
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(
            f"build.py: git {' '.join(exc.cmd[5:7])} failed: {exc.stderr.decode().strip()}\n"
        )
        return 2
    print(stack / "ipai.toml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
