"""``ipai evidence verify`` accepts a real pack and names every kind of tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_ipai

from pytest_ipai.evidence.pack import checksums
from pytest_ipai.evidence.verify import verify_pack


def reseal(pack: Path) -> None:
    """Recompute SHA256SUMS, as a forger would, so only the deeper check can catch the edit."""
    (pack / "SHA256SUMS").write_bytes(checksums(pack))


def edit_json(path: Path, change: object) -> None:
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data, indent=2))


def gate(document: dict, gate_id: str) -> dict:
    return next(r for r in document["results"] if r["gate_id"] == gate_id)


def test_a_fresh_pack_is_valid(demo_pack: Path) -> None:
    assert verify_pack(demo_pack) == []
    proc = run_ipai("evidence", "verify", str(demo_pack))
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"{demo_pack}: valid (unsigned)"


def test_flipped_byte_is_a_checksum_mismatch(demo_pack: Path) -> None:
    target = demo_pack / "results.json"
    data = bytearray(target.read_bytes())
    data[10] ^= 0x01
    target.write_bytes(bytes(data))
    proc = run_ipai("evidence", "verify", str(demo_pack))
    assert proc.returncode == 1
    assert f"{demo_pack}: results.json: checksum mismatch" in proc.stdout.splitlines()


def test_deleted_file_is_named(demo_pack: Path) -> None:
    (demo_pack / "junit.xml").unlink()
    problems = verify_pack(demo_pack)
    assert "junit.xml: missing file" in problems
    assert "junit.xml: listed in SHA256SUMS but missing" in problems


def test_added_file_is_named(demo_pack: Path) -> None:
    (demo_pack / "blobs" / "extra").write_text("smuggled")
    problems = verify_pack(demo_pack)
    assert "blobs/extra: not listed in SHA256SUMS" in problems
    assert "blobs/extra: content does not match its name" in problems


def test_broken_journal_chain(demo_pack: Path) -> None:
    journal = demo_pack / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["result"]["status"] = "pass"
    entry["result"]["message"] = "edited after the fact"
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    lines.append(lines[1])  # and a replayed line
    journal.write_bytes(b"".join(lines))
    reseal(demo_pack)
    problems = verify_pack(demo_pack)
    assert "journal.jsonl:3: chain broken (prev hash does not match)" in problems
    assert "results.json: journal_head does not match the journal's last line" in problems


def test_result_that_disagrees_with_the_journal(demo_pack: Path) -> None:
    edit_json(
        demo_pack / "results.json",
        lambda d: gate(d, "oca.repos_present").update(status="fail", error_class="repo_missing"),
    )
    reseal(demo_pack)
    problems = verify_pack(demo_pack)
    assert "results.json: gate oca.repos_present status disagrees with the journal" in problems
    assert "results.json: gate oca.repos_present error_class disagrees with the journal" in problems


def test_placeholder(demo_pack: Path) -> None:
    edit_json(demo_pack / "manifest.json", lambda d: d.update(deploy_note="DEPLOY_SHA_PENDING"))
    reseal(demo_pack)
    problems = verify_pack(demo_pack)
    assert any(
        p.startswith("manifest.json:") and p.endswith("placeholder DEPLOY_SHA_PENDING")
        for p in problems
    )


def test_branch_name_in_a_sha_field(demo_pack: Path) -> None:
    edit_json(demo_pack / "manifest.json", lambda d: d["git"].update(sha="main"))
    reseal(demo_pack)
    problems = verify_pack(demo_pack)
    assert (
        "manifest.json: git.sha: 'main' is not a full commit SHA (a branch or tag name?)"
        in problems
    )
    assert any(p.startswith("manifest.json: git") and "does not match" in p for p in problems)


def test_secret_in_pack(demo_pack: Path) -> None:
    token = "ghp_" + "A1b2C3d4E5" * 4
    edit_json(
        demo_pack / "results.json", lambda d: d["results"][0].update(message=f"token {token}")
    )
    reseal(demo_pack)
    proc = run_ipai("evidence", "verify", str(demo_pack))
    assert proc.returncode == 1
    assert any(
        line.endswith("secret (github_token)") and "results.json:" in line
        for line in proc.stdout.splitlines()
    )
    assert token not in proc.stdout + proc.stderr


def test_configured_secret_value_is_found(demo_pack: Path) -> None:
    edit_json(demo_pack / "manifest.json", lambda d: d.update(note="pw plainvalue-77"))
    reseal(demo_pack)
    # The edit itself is seen (the journal keeps the manifest); the value is a
    # secret only when the config names it.
    edited = "manifest.json: note disagrees with the journal"
    assert verify_pack(demo_pack) == [edited]
    assert any("configured_secret" in p for p in verify_pack(demo_pack, ["plainvalue-77"]))


def test_schema_violation(demo_pack: Path) -> None:
    edit_json(demo_pack / "results.json", lambda d: d["results"][0].update(status="great"))
    reseal(demo_pack)
    problems = verify_pack(demo_pack)
    assert (
        "results.json: results[0].status: must be one of pass, fail, error, skipped, waived, not_run, inconclusive"
        in problems
    )


def test_every_problem_is_reported_not_just_the_first(demo_pack: Path) -> None:
    (demo_pack / "junit.xml").unlink()
    edit_json(demo_pack / "manifest.json", lambda d: d["git"].update(tree_sha="v1.0"))
    problems = verify_pack(demo_pack)
    assert "junit.xml: missing file" in problems
    assert "manifest.json: checksum mismatch" in problems
    assert (
        "manifest.json: git.tree_sha: 'v1.0' is not a full commit SHA (a branch or tag name?)"
        in problems
    )


@pytest.mark.parametrize("target", ["missing", "file"])
def test_not_a_pack_is_a_usage_error(tmp_path: Path, target: str) -> None:
    path = tmp_path / "x"
    if target == "file":
        path.write_text("x")
    proc = run_ipai("evidence", "verify", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"ipai: error: {path}: not an evidence pack folder"


def test_other_file_kinds_are_problems_never_followed(demo_pack: Path, tmp_path: Path) -> None:
    import os

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("not ours")
    os.symlink(outside, demo_pack / "blobs" / "linked-folder")  # crashed the verifier
    os.mkfifo(demo_pack / "blobs" / "pipe")  # hung it
    os.symlink("/etc/hostname", demo_pack / "results-copy.json")
    proc = run_ipai("evidence", "verify", str(demo_pack), timeout=60)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[:3] == [
        f"{demo_pack}: results-copy.json: a symlink, not a regular file (not followed)",
        f"{demo_pack}: blobs/linked-folder: a symlink, not a regular file (not followed)",
        f"{demo_pack}: blobs/pipe: a FIFO, not a regular file (not followed)",
    ]
    assert "not ours" not in proc.stdout


def test_a_deeply_nested_document_is_a_problem(demo_pack: Path) -> None:
    (demo_pack / "decision.json").write_text("[" * 5000 + "]" * 5000)
    reseal(demo_pack)
    assert "decision.json: nested deeper than 64 levels" in verify_pack(demo_pack)
