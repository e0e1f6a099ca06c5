"""Checking a pack's attestations: the DSSE signature against trusted keys, then every subject
against the file it names. Problems name the file; a key's material is never printed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .attest import (
    DECISION,
    DECISION_FILE,
    PAYLOAD_TYPE,
    RESULTS_FILE,
    STATEMENT_TYPE,
    TEST_RESULT,
    overall,
)
from .pack import ATTESTATIONS, file_sha256
from .sigstore_check import BUNDLE as SIGSTORE_BUNDLE

if TYPE_CHECKING:
    from securesystemslib.signer import Key

MAX_ENVELOPE = 16 * 1024 * 1024


def check_attestations(
    pack: Path, regular: Iterable[str], documents: dict[str, Any], keys: list[Key] | None
) -> tuple[list[str], str]:
    """Problems, and the signature status in words (for verify's output and the report)."""
    files = set(regular)
    present = sorted(r for r in files if r.startswith(f"{ATTESTATIONS}/"))
    covered = {r for r in files if not r.startswith(f"{ATTESTATIONS}/")}
    problems = [
        f"{rel}: unknown file in {ATTESTATIONS}/"
        for rel in present
        if rel
        not in (
            f"{ATTESTATIONS}/{RESULTS_FILE}",
            f"{ATTESTATIONS}/{DECISION_FILE}",
            SIGSTORE_BUNDLE,
        )
    ]
    ours = [rel for rel in present if rel != SIGSTORE_BUNDLE]
    wanted = {RESULTS_FILE: TEST_RESULT}
    if "decision.json" in files:
        wanted[DECISION_FILE] = DECISION
    signers: set[str] = set()
    verified = True
    for name, predicate_type in wanted.items():
        rel = f"{ATTESTATIONS}/{name}"
        if rel not in files:
            if keys is not None or ours:
                problems.append(f"{rel}: missing (the pack is not signed)")
            verified = False
            continue
        found, keyids, ok = _check_envelope(pack, rel, predicate_type, covered, documents, keys)
        problems += found
        signers |= keyids
        verified = verified and ok
    if not ours:
        keyless = SIGSTORE_BUNDLE in present
        return problems, "Sigstore bundle only" if keyless else "unsigned"
    who = ", ".join(sorted(signers)) or "no key id"
    if keys is None:
        return problems, f"signed by key id {who}; signature not checked (no trusted key given)"
    state = "verified" if verified and not problems else "NOT verified"
    return problems, f"signed by key id {who}; signature {state}"


def _check_envelope(
    pack: Path,
    rel: str,
    predicate_type: str,
    covered: set[str],
    documents: dict[str, Any],
    keys: list[Key] | None,
) -> tuple[list[str], set[str], bool]:
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError

    path = pack / rel
    if path.stat().st_size > MAX_ENVELOPE:
        return [f"{rel}: larger than {MAX_ENVELOPE} bytes"], set(), False
    try:
        envelope = Envelope.from_dict(json.loads(path.read_text("utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError):
        return [f"{rel}: not a DSSE envelope"], set(), False
    keyids = set(envelope.signatures)
    if envelope.payload_type != PAYLOAD_TYPE:
        return [f"{rel}: payloadType is not {PAYLOAD_TYPE}"], keyids, False
    problems = []
    verified = False
    if keys is not None:
        try:
            envelope.verify(keys, 1)
            verified = True
        except (VerificationError, ValueError):
            problems.append(f"{rel}: signature does not verify with any trusted key")
    try:
        statement = json.loads(envelope.payload)
    except ValueError:
        return [*problems, f"{rel}: payload is not JSON"], keyids, False
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        return [*problems, f"{rel}: payload is not an in-toto Statement v1"], keyids, False
    if statement.get("predicateType") != predicate_type:
        problems.append(f"{rel}: predicateType is not {predicate_type}")
    problems += _subjects(pack, rel, statement.get("subject"), covered)
    problems += _predicate(rel, statement.get("predicate"), predicate_type, documents)
    return problems, keyids, verified


def _subjects(pack: Path, rel: str, subject: Any, covered: set[str]) -> list[str]:
    if not isinstance(subject, list):
        return [f"{rel}: subject is not a list"]
    named: dict[str, str] = {}
    for item in subject:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            named[item["name"]] = str((item.get("digest") or {}).get("sha256", ""))
    problems = []
    for name in sorted(covered | set(named)):
        if name not in named:
            problems.append(f"{name}: not covered by the signed statement ({rel})")
        elif name not in covered:
            problems.append(f"{name}: named by the signed statement ({rel}) but missing")
        elif file_sha256(pack / name) != named[name]:
            problems.append(f"{name}: differs from the signed statement ({rel})")
    return problems


def _predicate(rel: str, predicate: Any, kind: str, documents: dict[str, Any]) -> list[str]:
    if not isinstance(predicate, dict):
        return [f"{rel}: predicate is not an object"]
    results = documents.get("results.json")
    if kind == TEST_RESULT and isinstance(results, dict):
        try:
            expected = overall(results)
        except (KeyError, TypeError):
            return []  # results.json's own problems are reported on their own
        if predicate.get("result") != expected:
            return [
                f"{rel}: predicate.result {predicate.get('result')} disagrees with results.json"
            ]
    decision = documents.get("decision.json")
    if (
        kind == DECISION
        and isinstance(decision, dict)
        and predicate.get("verdict") != decision.get("verdict")
    ):
        return [f"{rel}: predicate.verdict disagrees with decision.json"]
    return []
