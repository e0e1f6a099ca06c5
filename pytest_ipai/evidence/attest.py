"""Signed attestations of a pack: in-toto Statements v1 in DSSE envelopes, signed with ed25519.

A pack carries ``attestations/results.intoto.json`` (predicate type test-result v0.1: which
gates passed, warned or failed, and the policy, config and manifest the run used) and, when a
decision was made, ``attestations/decision.intoto.json``. Both name every other file of the pack
(SHA256SUMS included) as a subject with its SHA-256, so the signature covers the whole pack.
The attestations are not listed in SHA256SUMS: they are checked by their signature, and a pack
can be signed again (``ipai evidence sign``) without touching its checksums.

The private key stays on the host that signs (its path is in the config); only the key id,
derived from the public key, enters the pack. securesystemslib does the cryptography and the
DSSE encoding; it is imported when a pack is signed or checked, not before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.stack import StackConfig
from ..core.errors import ConfigError, InputError
from ..core.textfile import read_text, resolved

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner, Key

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"
DECISION = "urn:pytest-ipai:attestation:decision:v1"
RESULTS_FILE = "results.intoto.json"
DECISION_FILE = "decision.intoto.json"
KEY_BYTES = 64 * 1024
_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----\s.*?-----END PUBLIC KEY-----", re.S)


def gate_lists(document: dict[str, Any]) -> dict[str, list[str]]:
    """passedTests / warnedTests / failedTests of the test-result predicate: a required gate
    that is not satisfied failed; an optional one warned."""
    lists: dict[str, list[str]] = {"passedTests": [], "warnedTests": [], "failedTests": []}
    for result in document["results"]:
        if result["status"] in ("pass", "waived"):
            lists["passedTests"].append(result["gate_id"])
        elif result["required"]:
            lists["failedTests"].append(result["gate_id"])
        else:
            lists["warnedTests"].append(result["gate_id"])
    return lists


def overall(document: dict[str, Any]) -> str:
    if document["exit_code"] != 0:
        return "FAILED"
    return "WARNED" if gate_lists(document)["warnedTests"] else "PASSED"


def statements(
    sums: dict[str, str], document: dict[str, Any], documents: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The statements to sign, by file name under attestations/."""
    subject = [{"name": rel, "digest": {"sha256": sums[rel]}} for rel in sorted(sums)]
    configuration = [
        {"name": name, "digest": {"sha256": sums[name]}}
        for name in ("manifest.json", "policy.json", "config.json")
        if name in sums
    ]
    predicate: dict[str, Any] = {
        "result": overall(document),
        "configuration": configuration,
        **gate_lists(document),
    }
    url = ci_run_url()
    if url:
        predicate["url"] = url
    found = {
        RESULTS_FILE: {
            "_type": STATEMENT_TYPE,
            "subject": subject,
            "predicateType": TEST_RESULT,
            "predicate": predicate,
        }
    }
    decision = documents.get("decision.json")
    if decision is not None:
        manifest = documents["manifest.json"]
        found[DECISION_FILE] = {
            "_type": STATEMENT_TYPE,
            "subject": subject,
            "predicateType": DECISION,
            "predicate": {
                "run_id": document["run_id"],
                "scope": document["scope"],
                "env": document["env"],
                "commit": (manifest.get("git") or {}).get("sha"),
                "verdict": decision.get("verdict"),
                "rule": decision.get("rule"),
                "reason": decision.get("reason"),
                "exit_code": document["exit_code"],
            },
        }
    return found


def ci_run_url() -> str | None:
    """The CI run that made the pack, where the CI says so (GitHub Actions, GitLab CI)."""
    server, repo, run = (
        os.environ.get("GITHUB_SERVER_URL"),
        os.environ.get("GITHUB_REPOSITORY"),
        os.environ.get("GITHUB_RUN_ID"),
    )
    if server and repo and run:
        return f"{server}/{repo}/actions/runs/{run}"
    return os.environ.get("CI_JOB_URL") or None


@dataclass
class PackSigner:
    """Signs a pack's statements with the host's key."""

    signer: CryptoSigner
    key_path: Path

    @property
    def keyid(self) -> str:
        return str(self.signer.public_key.keyid)

    def envelopes(
        self, sums: dict[str, str], document: dict[str, Any], documents: dict[str, Any]
    ) -> dict[str, bytes]:
        from securesystemslib.dsse import Envelope

        signed = {}
        for name, statement in statements(sums, document, documents).items():
            payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
            envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
            envelope.sign(self.signer)
            signed[name] = (
                json.dumps(envelope.to_dict(), indent=2, sort_keys=True) + "\n"
            ).encode()
        return signed


def load_signer(key_path: Path, key_id: str | None, where: str) -> PackSigner:
    """The signing key named by the config: a PEM ed25519 private key, readable by its owner
    only (like ssh, a key others can read is refused). ``key_id``, when set, must be the id
    of the key found there: a guard against signing with the wrong key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    try:
        mode = os.stat(key_path).st_mode
    except OSError as exc:
        raise ConfigError(f"{where}: {key_path}: {exc.strerror or exc}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(
            f"{where}: {key_path}: readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    data = read_text(key_path, where, ConfigError, max_bytes=KEY_BYTES).encode()
    try:
        private = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: {key_path}: not an unencrypted PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError(f"{where}: {key_path}: not an ed25519 key (use ipai evidence keygen)")
    signer = CryptoSigner(private)
    if key_id and signer.public_key.keyid != key_id:
        raise ConfigError(f"{where}: {key_path} has key id {signer.public_key.keyid}, not {key_id}")
    return PackSigner(signer, key_path)


def load_public_keys(paths: list[Path]) -> list[Key]:
    """Trusted public keys: each file holds one or more PEM public keys (a trusted-keys file
    is several concatenated)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    keys: list[Key] = []
    for path in paths:
        data = read_text(path, "public key file", InputError, max_bytes=KEY_BYTES).encode()
        blocks = _PEM_BLOCK.findall(data)
        if not blocks:
            raise InputError(f"{path}: no PEM public key in it")
        for number, block in enumerate(blocks, start=1):
            try:
                keys.append(SSlibKey.from_crypto(load_pem_public_key(block)))
            except (ValueError, TypeError):
                raise InputError(f"{path}: public key {number} is not valid") from None
    return keys


def generate_key(private_path: Path) -> tuple[Path, str]:
    """A new ed25519 key pair: the private key (mode 600, never overwritten) and the public key
    beside it as ``<name>.pub``. Returns the public key's path and the key id."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )
    from securesystemslib.signer import CryptoSigner

    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(f"{path}: exists; a key is never overwritten")
    private = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public_path.write_bytes(
        private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return public_path, str(CryptoSigner(private).public_key.keyid)


def _evidence_section(config: StackConfig) -> dict[str, Any]:
    section = config.env.raw.get("evidence") or {}
    return section if isinstance(section, dict) else {}


def load_pack_signer(config: StackConfig) -> PackSigner | None:
    """The signer of the environment's packs (``[environments.NAME.evidence] signing_key``),
    or None when packs are not signed here."""
    section = _evidence_section(config)
    if not section.get("signing_key"):
        return None
    where = f"{config.file}: environments.{config.env.name}.evidence.signing_key"
    path = resolved(config.base_dir / str(section["signing_key"]), where, ConfigError)
    return load_signer(path, section.get("signing_key_id"), where)


def trusted_key_files(config: StackConfig) -> list[Path]:
    """``[environments.NAME.evidence] trusted_keys``: the public keys verify trusts."""
    where = f"{config.file}: environments.{config.env.name}.evidence.trusted_keys"
    return [
        resolved(config.base_dir / str(p), where, ConfigError)
        for p in _evidence_section(config).get("trusted_keys", [])
    ]


def sign_existing(pack: Path, signer: PackSigner) -> list[str]:
    """Sign a published pack again (an old unsigned one, or with a new key); its checksums are
    untouched. Returns the attestation files written."""
    from ..core.fsio import write_bytes_atomic

    sums: dict[str, str] = {}
    raw = (pack / "SHA256SUMS").read_bytes()
    for line in raw.decode("utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        sums[rel] = digest
    sums["SHA256SUMS"] = hashlib.sha256(raw).hexdigest()
    documents = {
        name: json.loads((pack / name).read_text("utf-8"))
        for name in ("manifest.json", "decision.json")
        if (pack / name).is_file()
    }
    document = json.loads((pack / "results.json").read_text("utf-8"))
    envelopes = signer.envelopes(sums, document, documents)
    folder = pack / "attestations"
    for stale in folder.glob("*") if folder.is_dir() else []:
        if stale.name not in envelopes:
            stale.unlink()
    for name, envelope in envelopes.items():
        write_bytes_atomic(folder / name, envelope)
    return [f"attestations/{name}" for name in sorted(envelopes)]


def trusted_keys(key_files: list[Path], config: StackConfig | None) -> list[Key] | None:
    """The public keys a pack must be signed by: the files given, else the config's
    ``trusted_keys``; None when there are none (the signature is then reported, not
    required)."""
    paths = key_files or (trusted_key_files(config) if config is not None else [])
    return load_public_keys(paths) if paths else None
