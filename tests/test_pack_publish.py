"""Packs are published atomically under YYYYMMDD-HHMM/<scope>, never overwriting another."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_ipai.core.results import GateResult
from pytest_ipai.evidence.journal import JournalWriter, chain_problems, read_entries
from pytest_ipai.evidence.pack import Staging, checksums, host_name
from pytest_ipai.evidence.publish import publish_run
from pytest_ipai.evidence.verify import verify_pack

STARTED = "2026-11-24T18:05:30.000Z"


def manifest(run_id: str, scope: str = "predeploy") -> dict[str, Any]:
    return {
        "schema": "ipai/evidence-manifest/1",
        "run_id": run_id,
        "suite": "predeploy",
        "scope": scope,
        "env": "dev",
        "started_at": STARTED,
        "finished_at": STARTED,
        "interrupted": False,
        "host": "testhost",
        "user": "tester",
        "tools": {"pytest-ipai": "0.1.0", "python": "3.11"},
        "git": {"available": False, "reason": "test"},
        "addons_repos": [],
        "image_digests": {},
    }


def result(gate_id: str, status: str = "pass") -> GateResult:
    return GateResult(gate_id=gate_id, suite="predeploy", status=status, host="testhost")


def publish(root: Path, run_id: str, results: list[GateResult] | None = None) -> Path:
    staging = Staging(root, run_id)
    staging.journal.append("start", {"run_id": run_id, "expected": []})
    items = results if results is not None else [result("demo.one")]
    for item in items:
        staging.record(item)
    pack, _ = publish_run(staging, manifest=manifest(run_id), results=items, expected=[])
    return pack


def test_path_layout_and_suffix_on_collision(tmp_path: Path) -> None:
    first = publish(tmp_path, "run-a")
    assert first == tmp_path / "20261124-1805" / "predeploy"
    before = {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}
    second = publish(tmp_path, "run-b")
    third = publish(tmp_path, "run-c")
    assert second == tmp_path / "20261124-1805" / "predeploy-2"
    assert third == tmp_path / "20261124-1805" / "predeploy-3"
    assert {p: p.read_bytes() for p in first.rglob("*") if p.is_file()} == before
    for pack in (first, second, third):
        assert verify_pack(pack) == []
    assert not list((tmp_path / ".staging").iterdir())


def _publish_in_child(root: str, run_id: str) -> None:
    publish(Path(root), run_id)


def test_concurrent_publishers_never_share_a_folder(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_publish_in_child, args=(str(tmp_path), f"run-{i}")) for i in range(8)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    packs = sorted(p for p in (tmp_path / "20261124-1805").iterdir())
    assert len(packs) == 8
    run_ids = {
        (p / "manifest.json").read_text().split('"run_id": "')[1].split('"')[0] for p in packs
    }
    assert run_ids == {f"run-{i}" for i in range(8)}


def test_sha256sums_is_written_last_and_covers_every_file(tmp_path: Path) -> None:
    pack = publish(tmp_path, "run-x", [result("demo.one"), result("demo.two", "fail")])
    listed = {line.split("  ", 1)[1] for line in (pack / "SHA256SUMS").read_text().splitlines()}
    on_disk = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()}
    assert listed == on_disk - {"SHA256SUMS"}
    assert (pack / "SHA256SUMS").read_bytes() == checksums(pack)
    sums_written = (pack / "SHA256SUMS").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= sums_written for p in pack.rglob("*") if p.is_file())


def test_a_publish_that_runs_out_of_space_is_kept_for_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_ipai.core.errors import NoSpaceError
    from pytest_ipai.evidence import pack as pack_module
    from pytest_ipai.evidence.publish import recover_orphans

    real_render = pack_module.allure.render

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pack_module.allure, "render", full)
    staging = Staging(tmp_path, "run-full")
    here = dict(manifest("run-full"), host=host_name())  # recovery takes this host's runs only
    staging.write_session({"manifest": here, "expected": [], "pid": 1 << 22})
    staging.journal.append("start", {"run_id": "run-full", "expected": []})
    failing = result("demo.one", "fail")
    staging.record(failing)
    with pytest.raises(NoSpaceError, match="ipai evidence recover"):
        publish_run(staging, manifest=here, results=[failing], expected=[])
    assert not (tmp_path / "20261124-1805").exists() or not any(
        (tmp_path / "20261124-1805").iterdir()
    )
    kept = tmp_path / ".staging" / "run-full"
    # The session record and the journal (with its finish entry) stay; half-written files go.
    assert (kept / "session.json").is_file()
    assert [e["kind"] for e in read_entries(kept / "journal.jsonl")][-1] == "finish"
    assert not (kept / "results.json").exists() and not (kept / "allure-results").exists()

    monkeypatch.setattr(pack_module.allure, "render", real_render)
    (pack,) = recover_orphans(tmp_path)
    assert verify_pack(pack) == []
    document = json.loads((pack / "results.json").read_text())
    # The pack tells the run as it ended: exit 1 for the failed gate, not interrupted.
    assert (document["exit_code"], document["interrupted"]) == (1, False)


def test_run_id_in_use_is_refused(tmp_path: Path) -> None:
    Staging(tmp_path, "same-id")
    with pytest.raises(Exception, match="already being recorded"):
        Staging(tmp_path, "same-id")


@pytest.mark.parametrize("bad", ["../escape", "", "a b", "x" * 65])
def test_bad_run_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(Exception, match="run id"):
        Staging(tmp_path, bad)


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    writer.append("start", {"run_id": "r", "expected": []})
    writer.append("result", {"result": {"gate_id": "a.b"}})
    writer.close()
    with open(path, "ab") as fh:
        fh.write(b'{"seq":3,"kind":"res')  # the process died mid-write
        os.fsync(fh.fileno())
    assert len(list(read_entries(path))) == 2
    writer = JournalWriter(path)  # recovery reopens and continues the chain
    writer.append("result", {"result": {"gate_id": "c.d"}})
    writer.close()
    problems, _ = chain_problems(path)
    assert problems == []
    assert [e["seq"] for e in read_entries(path)] == [1, 2, 3]
