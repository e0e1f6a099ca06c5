"""Signed packs: ed25519 keys from `ipai evidence keygen`, in-toto statements in DSSE envelopes
written at publication, `ipai evidence verify --key` and `ipai evidence sign`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import load, only_pack, run_ipai

from pytest_ipai.evidence.pack import checksums


def keygen(path: Path) -> tuple[Path, str]:
    proc = run_ipai("evidence", "keygen", "--out", str(path))
    assert proc.returncode == 0, proc.stderr
    keyid = proc.stdout.split("key id:")[1].split()[0]
    return path.with_name(path.name + ".pub"), keyid


def signing_stack(demo_stack: Path, key: Path, **more: str | list[str]) -> Path:
    """The demo stack's dev environment signing with ``key`` (and more evidence settings)."""
    settings = {"signing_key": str(key), **more}
    inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in settings.items())
    config = demo_stack / "ipai.toml"
    text = config.read_text().replace(
        "[environments.dev]\n", f"[environments.dev]\nevidence = {{ {inline} }}\n", 1
    )
    config.write_text(text)
    return config


def gate(config: Path, root: Path) -> Path:
    proc = run_ipai("gate", "predeploy", "--config", str(config), "--evidence-root", str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return only_pack(root)


@pytest.fixture
def signed(demo_stack: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A signed pack of the demo stack, its public key and private key."""
    private = tmp_path / "keys" / "host.key"
    public, _keyid = keygen(private)
    pack = gate(signing_stack(demo_stack, private), tmp_path / "evidence")
    return pack, public, private


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    private = tmp_path / "k" / "host.key"
    public, keyid = keygen(private)
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert len(keyid) == 64
    again = run_ipai("evidence", "keygen", "--out", str(private))
    assert again.returncode == 2
    assert again.stderr.strip() == f"ipai: error: {private}: exists; a key is never overwritten"


def test_a_signed_pack_verifies_with_its_key_and_names_the_signer(
    signed: tuple[Path, Path, Path],
) -> None:
    pack, public, private = signed
    envelope = json.loads((pack / "attestations" / "results.intoto.json").read_text())
    statement = json.loads(__import__("base64").b64decode(envelope["payload"]))
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"
    subjects = {s["name"] for s in statement["subject"]}
    on_disk = {
        p.relative_to(pack).as_posix()
        for p in pack.rglob("*")
        if p.is_file() and not p.relative_to(pack).as_posix().startswith("attestations/")
    }
    assert subjects == on_disk  # every file, SHA256SUMS included
    assert statement["predicate"]["result"] == "PASSED"
    assert len(statement["predicate"]["passedTests"]) == len(load(pack)["results"])
    # The private key never enters the pack.
    secret_body = "".join(private.read_text().splitlines()[1:-1])
    for path in pack.rglob("*"):
        if path.is_file():
            assert secret_body not in path.read_text(errors="replace")
    proc = run_ipai("evidence", "verify", str(pack), "--key", str(public))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().endswith("; signature verified)")


def test_another_key_does_not_verify(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pack, _public, _private = signed
    other, _ = keygen(tmp_path / "other.key")
    proc = run_ipai("evidence", "verify", str(pack), "--key", str(other))
    assert proc.returncode == 1
    assert (
        f"{pack}: attestations/results.intoto.json: signature does not verify with any trusted key"
        in proc.stdout.splitlines()
    )


def test_a_trusted_keys_file_holds_several_keys(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    pack, public, _private = signed
    other, _ = keygen(tmp_path / "other.key")
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(other.read_text() + public.read_text())
    proc = run_ipai("evidence", "verify", str(pack), "--trusted-keys", str(trusted))
    assert proc.returncode == 0, proc.stdout


def test_a_forger_without_the_key_is_caught_by_the_signature(
    signed: tuple[Path, Path, Path],
) -> None:
    """Edit a gate's message in results.json, the journal would catch it; here we check that
    the signature alone names the file even when everything else is resealed."""
    pack, public, _private = signed
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["user"] = "someone-else"
    (pack / "manifest.json").write_text(json.dumps(manifest))
    (pack / "SHA256SUMS").write_bytes(checksums(pack))
    proc = run_ipai("evidence", "verify", str(pack), "--key", str(public))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    statement = "attestations/results.intoto.json"
    assert f"{pack}: manifest.json: differs from the signed statement ({statement})" in lines
    assert f"{pack}: SHA256SUMS: differs from the signed statement ({statement})" in lines


def test_an_unsigned_pack_fails_when_a_key_is_required(demo_pack: Path, tmp_path: Path) -> None:
    public, _ = keygen(tmp_path / "k.key")
    proc = run_ipai("evidence", "verify", str(demo_pack), "--key", str(public))
    assert proc.returncode == 1
    assert (
        f"{demo_pack}: attestations/results.intoto.json: missing (the pack is not signed)"
        in proc.stdout.splitlines()
    )
    assert run_ipai("evidence", "verify", str(demo_pack)).returncode == 0


def test_sign_an_old_pack_then_it_verifies(demo_pack: Path, tmp_path: Path) -> None:
    private = tmp_path / "k.key"
    public, keyid = keygen(private)
    sums_before = (demo_pack / "SHA256SUMS").read_bytes()
    proc = run_ipai("evidence", "sign", str(demo_pack), "--key", str(private))
    assert proc.returncode == 0, proc.stderr
    assert f"(key id {keyid})" in proc.stdout
    assert (demo_pack / "SHA256SUMS").read_bytes() == sums_before  # checksums untouched
    assert run_ipai("evidence", "verify", str(demo_pack), "--key", str(public)).returncode == 0


def test_sign_refuses_a_pack_that_does_not_verify(demo_pack: Path, tmp_path: Path) -> None:
    private = tmp_path / "k.key"
    keygen(private)
    (demo_pack / "junit.xml").write_text("<testsuites/>")
    proc = run_ipai("evidence", "sign", str(demo_pack), "--key", str(private))
    assert proc.returncode == 1
    assert not (demo_pack / "attestations").exists()


def test_a_key_others_can_read_is_refused(demo_stack: Path, tmp_path: Path) -> None:
    private = tmp_path / "k.key"
    keygen(private)
    private.chmod(0o644)
    config = signing_stack(demo_stack, private)
    proc = run_ipai("gate", "predeploy", "--config", str(config))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith(f"evidence.signing_key: {private}: readable by others (mode 644); chmod 600 it")
    )
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_wrong_key_id_is_refused(demo_stack: Path, tmp_path: Path) -> None:
    private = tmp_path / "k.key"
    _public, keyid = keygen(private)
    config = signing_stack(demo_stack, private, signing_key_id="0" * 64)
    proc = run_ipai("gate", "predeploy", "--config", str(config))
    assert proc.returncode == 2
    assert f"has key id {keyid}, not {'0' * 64}" in proc.stderr


def test_the_config_names_the_keys_verify_trusts(demo_stack: Path, tmp_path: Path) -> None:
    private = tmp_path / "keys" / "host.key"
    public, _ = keygen(private)
    config = signing_stack(demo_stack, private, trusted_keys=[str(public)])
    root = tmp_path / "evidence"
    proc = run_ipai(
        "gate", "predeploy", "--config", str(config), "--evidence-root", str(root), "--verify"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify: ok" in proc.stdout.splitlines()
    pack = only_pack(root)
    checked = run_ipai("evidence", "verify", str(pack), "--config", str(config))
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.strip().endswith("signature verified)")
    # The same config, another key trusted: the pack's signature is not one it trusts.
    other, _ = keygen(tmp_path / "keys" / "other.key")
    config.write_text(config.read_text().replace(str(public), str(other)))
    refused = run_ipai("evidence", "verify", str(pack), "--config", str(config))
    assert refused.returncode == 1


def test_the_report_shows_a_checked_signature_and_refuses_an_untrusted_one(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    pack, public, _private = signed
    proc = run_ipai("report", str(pack), "--key", str(public))
    assert proc.returncode == 0, proc.stderr
    page = Path(proc.stdout.strip()).read_text()
    assert "signature verified</td>" in page
    other, _ = keygen(tmp_path / "other.key")
    Path(proc.stdout.strip()).unlink()
    refused = run_ipai("report", str(pack), "--key", str(other))
    assert refused.returncode == 1
    assert "signature does not verify with any trusted key" in refused.stderr
    assert not Path(proc.stdout.strip()).exists()
