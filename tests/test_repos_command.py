"""``ipai repos sync|lock|status`` on real git repositories."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import run_ipai
from gitrepo import head


def repos(stack: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ipai("repos", *args, "--config", str(stack / "ipai.toml"))


def point_at_copy(stack: Path) -> None:
    """The copied stack's manifest already uses ../upstream; nothing else points outside."""
    data = json.loads((stack / "config" / "addons_manifest.oca_ipai.json").read_text())
    assert all(r["url"].startswith("../upstream/") for r in data["oca_repositories"])


def test_sync_clones_missing_at_the_locked_commit_and_leaves_the_rest(demo_stack: Path) -> None:
    point_at_copy(demo_stack)
    oca = demo_stack / "addons" / "oca"
    locked = json.loads((demo_stack / "oca.lock.json").read_text())
    shutil.rmtree(oca / "web")
    (oca / "queue" / "LOCAL_CHANGE.txt").write_text("work in progress\n")
    proc = repos(demo_stack, "sync")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "1 cloned, 2 already present, 0 failed"
    assert (
        "present  queue                    addons/oca/queue (local changes: left alone)"
        in proc.stdout
    )
    assert head(oca / "web") == locked["web"]["commit"]
    assert (oca / "queue" / "LOCAL_CHANGE.txt").read_text() == "work in progress\n"


def test_sync_counts_failures_truthfully(demo_stack: Path) -> None:
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    data = json.loads(manifest.read_text())
    data["oca_repositories"] += [
        {
            "name": "evil",
            "type": "git",
            "url": "ext::sh -c touch% /tmp/ipai-pwned",
            "path": "addons/oca/evil",
        },
        {
            "name": "gone",
            "type": "git",
            "url": "../upstream/does-not-exist.git",
            "path": "addons/oca/gone",
        },
        {"name": "nourl", "type": "git", "path": "addons/oca/nourl"},
    ]
    manifest.write_text(json.dumps(data))
    (demo_stack / "oca.lock.json").unlink()
    proc = repos(demo_stack, "sync")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == "0 cloned, 3 already present, 3 failed"
    assert "FAILED   evil" in proc.stdout and "refused git URL" in proc.stdout
    assert (
        "FAILED   nourl                    addons/oca/nourl: no url in the manifest" in proc.stdout
    )
    assert not Path("/tmp/ipai-pwned").exists()
    assert not (demo_stack / "addons" / "oca" / "gone").exists()  # no half clone left


def test_lock_pins_full_shas_and_refuses_dirty_or_missing(demo_stack: Path) -> None:
    (demo_stack / "oca.lock.json").unlink()
    proc = repos(demo_stack, "lock")
    assert proc.returncode == 0, proc.stdout
    lock = json.loads((demo_stack / "oca.lock.json").read_text())
    assert set(lock) == {"queue", "server-tools", "web"}
    for name, entry in lock.items():
        assert entry["commit"] == head(demo_stack / "addons" / "oca" / name)
        assert len(entry["commit"]) == 40
        assert entry["ref"] == "18.0"
    (demo_stack / "addons" / "oca" / "web" / "dirty.txt").write_text("x")
    before = (demo_stack / "oca.lock.json").read_bytes()
    proc = repos(demo_stack, "lock")
    assert proc.returncode == 1
    assert "FAILED   web: has local changes" in proc.stdout
    assert (demo_stack / "oca.lock.json").read_bytes() == before  # nothing half-written


def test_status_shows_drift(demo_stack: Path) -> None:
    queue = demo_stack / "addons" / "oca" / "queue"
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x.invalid",
            "-C",
            str(queue),
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "ahead",
        ],
        check=True,
        timeout=30,
    )
    (demo_stack / "addons" / "oca" / "web" / "x.txt").write_text("x")
    shutil.rmtree(demo_stack / "addons" / "oca" / "server-tools")
    proc = repos(demo_stack, "status")
    assert proc.returncode == 1  # a repository is missing
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert rows["queue"][3] == head(queue) and rows["queue"][5] == "drift"
    assert rows["web"][4] == "yes" and rows["web"][5] == "ok"
    assert rows["server-tools"][-1] == "missing"
