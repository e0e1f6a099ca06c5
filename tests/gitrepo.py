"""Real git repositories for tests: one made from a file table, and committing everything."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A work tree at ``root`` holding ``files``, all added (tracked) but not committed."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run([*GIT, "-C", str(root), *args], check=True, timeout=60)
    return root


def commit_all(repo: Path, message: str = "change") -> None:
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run([*GIT, "-C", str(repo), *args], check=True, timeout=60)


def git_out(repo: Path, *args: str) -> str:
    """What a git command prints in ``repo`` (it must succeed)."""
    return subprocess.run(
        [*GIT, "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def head(repo: Path) -> str:
    return git_out(repo, "rev-parse", "HEAD").strip()
