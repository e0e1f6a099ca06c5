"""Build the demo stack: a stack repository with OCA-style addon repositories as git checkouts.

    python examples/demo/build.py DEST

DEST/upstream/<repo>.git  bare repositories standing in for github.com/OCA/<repo> (branch 18.0)
DEST/stack/               the stack repository: ipai.toml, the addons manifest, addons/ipai/*,
                          and addons/oca/<repo> cloned from upstream at 18.0

Everything is made locally with git (argv, no shell); nothing is fetched.
"""

from __future__ import annotations

import argparse
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


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)


def build(dest: Path) -> Path:
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
    commit_all(stack, "demo stack")
    for repo in OCA:
        git(
            "clone",
            "-q",
            "-b",
            SERIES,
            str(upstream / f"{repo}.git"),
            f"addons/oca/{repo}",
            cwd=stack,
        )
    return stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    try:
        stack = build(args.dest.resolve())
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(
            f"build.py: git {' '.join(exc.cmd[5:7])} failed: {exc.stderr.decode().strip()}\n"
        )
        return 2
    print(stack / "ipai.toml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
