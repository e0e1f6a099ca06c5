"""``ipai evidence verify``: is this pack complete, untampered, and free of placeholders and
secrets? Every problem is named (file, line or key); values are never echoed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..config.schema import problems as schema_problems
from ..core.errors import InputError
from ..core.redact import find_secrets
from .journal import chain_problems, read_entries
from .pack import file_sha256

REQUIRED = ("manifest.json", "results.json", "journal.jsonl", "junit.xml", "SHA256SUMS")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9_]*_PENDING\b")
SHA_LINE = re.compile(r"^([0-9a-f]{64})  (\S.*)$")
FULL_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
REF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,100}$")
# Keys that hold git object ids: a branch or tag name there is a lie about what was deployed.
SHA_KEYS = frozenset(
    {"sha", "tree_sha", "commit", "previous_sha", "deployed_sha", "last_known_good_sha"}
)
TEXT_LIMIT = 64 * 1024 * 1024


def verify_pack(pack: Path, secret_values: Iterable[str] = ()) -> list[str]:
    if not pack.is_dir():
        raise InputError(f"{pack}: not an evidence pack folder")
    problems: list[str] = []
    for name in REQUIRED:
        if not (pack / name).is_file():
            problems.append(f"{name}: missing file")
    if not (pack / "allure-results").is_dir():
        problems.append("allure-results/: missing folder")
    problems += _checksums(pack)
    documents = {}
    for name, schema in (
        ("manifest.json", "evidence-manifest"),
        ("results.json", "results"),
        ("decision.json", "decision"),
        ("deploy_result.json", "deploy-result"),
    ):
        doc = _load_json(pack / name, problems)
        if doc is None:
            continue
        documents[name] = doc
        try:
            found = schema_problems(doc, schema)
        except Exception:
            found = [f"no schema '{schema}' to check it against"]
        problems += [f"{name}: {p}" for p in found]
        problems += [f"{name}: {p}" for p in _sha_fields(doc)]
    problems += _journal(pack, documents.get("results.json"))
    problems += _blobs(pack, documents.get("results.json"))
    secrets = list(secret_values)
    for path in _text_files(pack):
        rel = path.relative_to(pack).as_posix()
        if rel == "SHA256SUMS":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary blob: nothing to read as text
        for number, line in enumerate(text.splitlines(), start=1):
            for match in PLACEHOLDER.finditer(line):
                problems.append(f"{rel}:{number}: placeholder {match.group(0)}")
        for finding in find_secrets(text, secrets):
            problems.append(f"{rel}:{finding.line}: secret ({finding.kind})")
    return problems


def _load_json(path: Path, problems: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        problems.append(f"{path.name}: not valid JSON ({exc})")
        return None


def _checksums(pack: Path) -> list[str]:
    sums = pack / "SHA256SUMS"
    if not sums.is_file():
        return []
    problems = []
    listed: set[str] = set()
    for number, line in enumerate(sums.read_text("utf-8", errors="replace").splitlines(), 1):
        match = SHA_LINE.match(line)
        if match is None:
            problems.append(f"SHA256SUMS:{number}: malformed line")
            continue
        digest, rel = match.groups()
        target = (pack / rel).resolve()
        if rel.startswith("/") or pack.resolve() not in target.parents:
            problems.append(f"SHA256SUMS:{number}: path {rel} leaves the pack")
            continue
        listed.add(rel)
        if not target.is_file():
            problems.append(f"{rel}: listed in SHA256SUMS but missing")
        elif file_sha256(target) != digest:
            problems.append(f"{rel}: checksum mismatch")
    for path in sorted(p for p in pack.rglob("*") if p.is_file()):
        rel = path.relative_to(pack).as_posix()
        if rel != "SHA256SUMS" and rel not in listed:
            problems.append(f"{rel}: not listed in SHA256SUMS")
    return problems


def _sha_fields(doc: Any, path: str = "") -> Iterator[str]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{path}.{key}" if path else str(key)
            if (key in SHA_KEYS or key.endswith("_sha")) and isinstance(value, str):
                if not FULL_SHA.match(value):
                    shown = f"'{value}'" if REF_NAME.match(value) else "the value"
                    yield f"{here}: {shown} is not a full commit SHA (a branch or tag name?)"
            else:
                yield from _sha_fields(value, here)
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _sha_fields(value, f"{path}[{index}]")


def _journal(pack: Path, results: Any) -> list[str]:
    journal = pack / "journal.jsonl"
    if not journal.is_file():
        return []
    problems, head = chain_problems(journal)
    for number, entry in enumerate(_entries(journal), start=1):
        problems += [
            f"journal.jsonl:{number}: {p}" for p in schema_problems(entry, "journal-entry")
        ]
    if isinstance(results, dict):
        if results.get("journal_head") != head:
            problems.append("results.json: journal_head does not match the journal's last line")
        journaled = {
            e["result"]["gate_id"]: e["result"].get("status")
            for e in _entries(journal)
            if isinstance(e, dict)
            and e.get("kind") == "result"
            and isinstance(e.get("result"), dict)
        }
        listed = {
            r.get("gate_id"): r.get("status")
            for r in results.get("results", [])
            if isinstance(r, dict)
        }
        for gate_id in sorted(set(journaled) | set(listed), key=str):
            if journaled.get(gate_id) != listed.get(gate_id):
                problems.append(f"results.json: gate {gate_id} disagrees with the journal")
    return problems


def _entries(journal: Path) -> Iterator[Any]:
    try:
        yield from read_entries(journal)
    except ValueError:
        return


def _blobs(pack: Path, results: Any) -> list[str]:
    problems = []
    folder = pack / "blobs"
    if folder.is_dir():
        for blob in sorted(folder.iterdir()):
            if hashlib.sha256(blob.read_bytes()).hexdigest() != blob.name:
                problems.append(f"blobs/{blob.name}: content does not match its name")
    if isinstance(results, dict):
        for result in results.get("results", []):
            for ref in result.get("blobs", []) if isinstance(result, dict) else []:
                if isinstance(ref, dict) and not (folder / str(ref.get("sha256"))).is_file():
                    gate, digest = result.get("gate_id"), ref.get("sha256")
                    problems.append(f"results.json: gate {gate} references missing blob {digest}")
    return problems


def _text_files(pack: Path) -> Iterator[Path]:
    for path in sorted(pack.rglob("*")):
        if path.is_file() and path.stat().st_size <= TEXT_LIMIT:
            yield path
