"""``ipai evidence verify``: is this pack complete, untampered, and free of placeholders and
secrets? Every problem is named (file, line or key); values are never echoed.

Checksums catch accidents; they do not stop a forger who recomputes them. So results.json is
re-derived from the journal and the policy snapshot (rederive), junit.xml and allure-results
are held to it gate by gate (views_check), and with trusted keys the signed attestations prove
who wrote the pack (attest_verify). docs/evidence.md has the threat model."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.schema import problems as schema_problems
from ..core.errors import InputError
from ..core.redact import find_secrets
from ..core.textfile import MAX_NESTING, file_kind, nesting_problem
from .attest_verify import check_attestations
from .journal import chain_problems, read_entries
from .pack import ATTESTATIONS, file_sha256
from .rederive import rederive
from .views_check import check_views

if TYPE_CHECKING:
    from securesystemslib.signer import Key

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


def _regular_files(pack: Path) -> tuple[set[str], list[str]]:
    """The pack's regular files (relative names) and a problem for anything else in it:
    a symlink (never followed), a FIFO (never opened), a device or a socket."""
    regular: set[str] = set()
    problems = []
    for root, dirs, files in os.walk(pack, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(root) / name
            mode = os.lstat(path).st_mode
            rel = path.relative_to(pack).as_posix()
            if stat.S_ISREG(mode):
                regular.add(rel)
            elif not stat.S_ISDIR(mode):
                kind = file_kind(mode)
                problems.append(f"{rel}: {kind}, not a regular file (not followed)")
    return regular, problems


@dataclass
class Verification:
    problems: list[str]
    signature: str  # the signature status in words


def verify_pack(
    pack: Path, secret_values: Iterable[str] = (), keys: list[Key] | None = None
) -> list[str]:
    return verify(pack, secret_values, keys).problems


def verify(
    pack: Path, secret_values: Iterable[str] = (), keys: list[Key] | None = None
) -> Verification:
    """Every problem of the pack. ``keys``: the trusted public keys; given, the pack must be
    signed by one of them."""
    if pack.is_symlink() or not pack.is_dir():
        raise InputError(f"{pack}: not an evidence pack folder")
    regular, problems = _regular_files(pack)
    for name in REQUIRED:
        if name not in regular:
            problems.append(f"{name}: missing file")
    if not (pack / "allure-results").is_dir() or (pack / "allure-results").is_symlink():
        problems.append("allure-results/: missing folder")
    problems += _checksums(pack, regular)
    documents = {}
    for name, schema in (
        ("manifest.json", "evidence-manifest"),
        ("results.json", "results"),
        ("decision.json", "decision"),
        ("deploy_result.json", "deploy-result"),
        ("policy.json", "policy-snapshot"),
        ("config.json", "config-snapshot"),
    ):
        doc = _load_json(pack / name, problems) if name in regular else None
        if doc is None:
            continue
        documents[name] = doc
        try:
            found = schema_problems(doc, schema)
        except Exception:
            found = [f"no schema '{schema}' to check it against"]
        problems += [f"{name}: {p}" for p in found]
        problems += [f"{name}: {p}" for p in _sha_fields(doc)]
    entries: list[Any] = []
    if "journal.jsonl" in regular:
        problems += _journal(pack, documents.get("results.json"))
        entries = [e for e in _entries(pack / "journal.jsonl") if isinstance(e, dict)]
    problems += rederive(pack, entries, documents, regular)
    problems += check_views(pack, documents.get("results.json"), regular)
    problems += _blobs(pack, documents.get("results.json"), regular)
    signed, signature = check_attestations(pack, regular, documents, keys)
    problems += signed
    secrets = list(secret_values)
    for rel in sorted(regular):
        path = pack / rel
        if rel == "SHA256SUMS" or path.stat().st_size > TEXT_LIMIT:
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
        kinds = {
            f.kind for value in _decoded_strings(rel, text) for f in find_secrets(value, secrets)
        }
        problems += [f"{rel}: secret ({kind}) in a decoded JSON value" for kind in sorted(kinds)]
    return Verification(problems, signature)


def _decoded_strings(rel: str, text: str) -> Iterator[str]:
    """Every string of a JSON (or JSON lines) file as a reader gets it back: an escaped secret
    (quotes, backslashes, non-ASCII) is whole again here."""
    if rel.endswith(".json"):
        documents = [text]
    elif rel.endswith(".jsonl"):
        documents = text.splitlines()
    else:
        return
    for document in documents:
        try:
            data = json.loads(document)
        except (ValueError, RecursionError):
            continue
        if nesting_problem(data) is None:
            yield from _strings(data)


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _load_json(path: Path, problems: list[str]) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        problems.append(f"{path.name}: not valid JSON ({exc})")
        return None
    except RecursionError:
        problems.append(f"{path.name}: nested deeper than {MAX_NESTING} levels")
        return None
    nested = nesting_problem(data)
    if nested:
        problems.append(f"{path.name}: {nested}")
        return None
    return data


def _checksums(pack: Path, regular: set[str]) -> list[str]:
    sums = pack / "SHA256SUMS"
    if "SHA256SUMS" not in regular:
        return []
    problems = []
    listed: set[str] = set()
    for number, line in enumerate(sums.read_text("utf-8", errors="replace").splitlines(), 1):
        match = SHA_LINE.match(line)
        if match is None:
            problems.append(f"SHA256SUMS:{number}: malformed line")
            continue
        digest, rel = match.groups()
        parts = rel.split("/")
        if rel.startswith("/") or ".." in parts or "" in parts or "\0" in rel:
            problems.append(f"SHA256SUMS:{number}: path {rel} leaves the pack")
            continue
        listed.add(rel)
        if rel not in regular:
            problems.append(f"{rel}: listed in SHA256SUMS but missing")
        elif file_sha256(pack / rel) != digest:
            problems.append(f"{rel}: checksum mismatch")
    for rel in sorted(regular):
        if rel != "SHA256SUMS" and rel not in listed and not rel.startswith(f"{ATTESTATIONS}/"):
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
    if isinstance(results, dict) and results.get("journal_head") != head:
        problems.append("results.json: journal_head does not match the journal's last line")
    return problems


def _entries(journal: Path) -> Iterator[Any]:
    try:
        yield from read_entries(journal)
    except ValueError:
        return


def _blobs(pack: Path, results: Any, regular: set[str]) -> list[str]:
    problems = []
    for rel in sorted(r for r in regular if r.startswith("blobs/")):
        if file_sha256(pack / rel) != rel.removeprefix("blobs/"):
            problems.append(f"{rel}: content does not match its name")
    if isinstance(results, dict):
        for result in results.get("results", []):
            for ref in result.get("blobs", []) if isinstance(result, dict) else []:
                if isinstance(ref, dict) and f"blobs/{ref.get('sha256')}" not in regular:
                    gate, digest = result.get("gate_id"), ref.get("sha256")
                    problems.append(f"results.json: gate {gate} references missing blob {digest}")
    return problems
