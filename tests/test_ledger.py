"""The evidence root's ledger: packs noted in order, hash-chained; `verify --ledger` names a pack
removed, swapped, slipped in or reordered; appends from concurrent runs never collide; a git
tag anchors the head."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_ipai
from gitrepo import GIT, commit_all, make_repo
from test_pack_publish import manifest, result

from pytest_ipai.evidence.journal import chain_problems
from pytest_ipai.evidence.ledger import LEDGER, read_ledger
from pytest_ipai.evidence.pack import Staging
from pytest_ipai.evidence.publish import publish_run


def publish(root: Path, run_id: str, status: str = "pass", scope: str = "predeploy") -> Path:
    staging = Staging(root, run_id)
    staging.journal.append("start", {"run_id": run_id, "expected": []})
    item = result("demo.one", status)
    staging.record(item)
    pack, _ = publish_run(staging, manifest=manifest(run_id, scope), results=[item], expected=[])
    return pack


@pytest.fixture
def root(tmp_path: Path) -> Path:
    evidence = tmp_path / "evidence"
    publish(evidence, "run-1")
    publish(evidence, "run-2", "fail")
    publish(evidence, "run-3", scope="postdeploy-dev")
    return evidence


def verify_ledger(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_ipai("evidence", "verify", "--ledger", str(root), *extra)


def test_every_publication_is_noted_in_order(root: Path) -> None:
    entries = read_ledger(root)
    assert [(e["seq"], e["kind"], e["run_id"], e["verdict"]) for e in entries] == [
        (1, "published", "run-1", "pass"),
        (2, "published", "run-2", "fail"),
        (3, "published", "run-3", "pass"),
    ]
    assert chain_problems(root / LEDGER, LEDGER)[0] == []
    proc = verify_ledger(root)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == f"{root}: valid (signatures not checked)"
    listing = run_ipai("evidence", "list", "--evidence-root", str(root)).stdout.splitlines()
    assert listing[0].split()[:3] == ["SEQ", "EVENT", "PACK"]
    assert listing[1].split()[:5] == [
        "3",
        "published",
        "20261124-1805/postdeploy-dev",
        "run-3",
        "pass",
    ]


def test_a_removed_pack_is_named(root: Path) -> None:
    shutil.rmtree(root / "20261124-1805" / "predeploy-2")
    proc = verify_ledger(root)
    assert proc.returncode == 1
    assert f"{root}: {LEDGER}:2: pack 20261124-1805/predeploy-2 is missing (removed?)" in (
        proc.stdout.splitlines()
    )


def test_a_swapped_pack_is_named(root: Path) -> None:
    """The failed run's pack replaced by the passing one: each pack is valid on its own."""
    minute = root / "20261124-1805"
    shutil.rmtree(minute / "predeploy-2")
    shutil.copytree(minute / "predeploy", minute / "predeploy-2")
    proc = verify_ledger(root)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert (
        f"{root}: 20261124-1805/predeploy-2: SHA256SUMS is not the one the ledger noted "
        "(swapped or altered)" in lines
    )
    assert f"{root}: 20261124-1805/predeploy-2: run_id is not the one the ledger noted" in lines


def test_a_pack_slipped_in_is_named(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    pack = publish(other, "run-9")
    shutil.copytree(pack, root / "20261124-1805" / "predeploy-9")
    proc = verify_ledger(root)
    assert proc.returncode == 1
    assert (
        f"{root}: 20261124-1805/predeploy-9: not in the ledger (slipped in, or published before it)"
        in proc.stdout.splitlines()
    )
    # recover adopts it, visibly, as "adopted" (never as "published")
    adopted = run_ipai("evidence", "recover", "--evidence-root", str(root))
    assert f"added to the ledger: {root / '20261124-1805' / 'predeploy-9'}" in adopted.stdout
    assert read_ledger(root)[-1]["kind"] == "adopted"
    assert verify_ledger(root).returncode == 0


def test_reordered_or_dropped_lines_break_the_chain(root: Path) -> None:
    lines = (root / LEDGER).read_bytes().splitlines(keepends=True)
    (root / LEDGER).write_bytes(lines[1] + lines[0] + lines[2])
    proc = verify_ledger(root)
    assert proc.returncode == 1
    assert f"{root}: {LEDGER}:1: chain broken (prev hash does not match)" in proc.stdout


def _publish_many(root: str, start: int) -> None:
    for n in range(start, start + 5):
        publish(Path(root), f"run-c{n}")


def test_concurrent_publishers_append_without_collisions(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_publish_many, args=(str(tmp_path), 10 * i)) for i in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    entries = read_ledger(tmp_path)
    assert [e["seq"] for e in entries] == list(range(1, 31))
    assert len({e["pack"] for e in entries}) == 30
    assert chain_problems(tmp_path / LEDGER, LEDGER)[0] == []
    assert verify_ledger(tmp_path).returncode == 0


def test_a_torn_last_line_is_cut_by_the_next_append(tmp_path: Path) -> None:
    publish(tmp_path, "run-a")
    with open(tmp_path / LEDGER, "ab") as fh:
        fh.write(b'{"seq":2,"prev":"')  # a crash mid-append
    publish(tmp_path, "run-b")
    assert [e["run_id"] for e in read_ledger(tmp_path)] == ["run-a", "run-b"]
    assert verify_ledger(tmp_path).returncode == 0


def test_a_git_anchor_catches_a_rewritten_ledger(root: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {"ipai.toml": "[stack]\n"})
    commit_all(repo, "stack")
    tagger = dict(os.environ, GIT_COMMITTER_NAME="ops", GIT_COMMITTER_EMAIL="ops@example.invalid")
    proc = run_ipai(
        "evidence",
        "anchor",
        "--evidence-root",
        str(root),
        "--repo",
        str(repo),
        "--name",
        "dev",
        env=tagger,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "anchored: ipai-ledger/dev/000003"
    message = subprocess.run(
        [*GIT, "-C", str(repo), "cat-file", "tag", "ipai-ledger/dev/000003"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert "seq: 3" in message
    checked = verify_ledger(root, "--anchors", str(repo), "--anchor-name", "dev")
    assert checked.returncode == 0, checked.stdout

    # A forger who can write the evidence root drops the failed run and rebuilds a chain
    # that is whole on its own: only the anchor still remembers the old line 3.
    shutil.rmtree(root / "20261124-1805" / "predeploy-2")
    kept = [e for e in read_ledger(root) if e["run_id"] != "run-2"]
    (root / LEDGER).unlink()
    from pytest_ipai.evidence.journal import GENESIS, encode_entry, line_hash

    prev, out = GENESIS, b""
    for seq, entry in enumerate(kept, start=1):
        payload = {k: v for k, v in entry.items() if k not in ("seq", "prev", "kind")}
        line = encode_entry(seq, prev, entry["kind"], payload)
        out += line + b"\n"
        prev = line_hash(line)
    (root / LEDGER).write_bytes(out)
    assert verify_ledger(root).returncode == 0  # the ledger alone is fooled
    proc = verify_ledger(root, "--anchors", str(repo), "--anchor-name", "dev")
    assert proc.returncode == 1
    assert (
        f"{root}: anchor ipai-ledger/dev/000003: the ledger has 2 lines, fewer than 3"
        in proc.stdout.splitlines()
    )


def test_ledger_entries_follow_their_schema(root: Path) -> None:
    from pytest_ipai.config.schema import problems

    for entry in read_ledger(root):
        assert problems(entry, "ledger-entry") == []
    assert json.loads((root / LEDGER).read_text().splitlines()[0])["prev"] == "0" * 64
