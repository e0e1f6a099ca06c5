"""Anchoring a ledger's head in git: an annotated (or signed) tag in the stack repository.

The ledger proves its own order, but whoever can write the evidence root can rewrite the whole
ledger. A tag ``ipai-ledger/<name>/<seq>`` pushed to the stack repository records the line
count and head hash at that moment somewhere the host cannot rewrite alone; verify then checks
that the ledger still holds that line at that place. ``git tag -s`` signs it with the key git
is configured with (GPG, or SSH with ``gpg.format ssh``), and verify checks that signature.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core.errors import InputError, ToolError
from ..core.proc import run
from .journal import line_hash
from .ledger import LEDGER

TAG_PREFIX = "ipai-ledger"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
GIT_TIMEOUT = 60.0
_FIELD = re.compile(r"^(seq|head): *(\S+)$", re.M)


def line_hashes(root: Path) -> list[str]:
    path = root / LEDGER
    if not path.is_file():
        return []
    return [
        line_hash(raw) for raw in path.read_bytes().splitlines(keepends=True) if raw.endswith(b"\n")
    ]


def _git(repo: Path, *args: str) -> str:
    proc = run(["git", "-C", str(repo), *args], timeout=GIT_TIMEOUT)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolError(f"git {args[0]} in {repo} failed (exit {proc.returncode}): {last}")
    return proc.stdout


def create_anchor(root: Path, repo: Path, name: str, *, sign: bool = False) -> str:
    """Tag the stack repository's HEAD with the ledger's current head; returns the tag."""
    if not NAME.match(name):
        raise InputError(f"anchor name {name!r}: use letters, digits, '.', '_' or '-'")
    hashes = line_hashes(root)
    if not hashes:
        raise InputError(f"{root / LEDGER}: no ledger lines to anchor")
    tag = f"{TAG_PREFIX}/{name}/{len(hashes):06d}"
    message = f"pytest-ipai ledger head of {name}\n\nseq: {len(hashes)}\nhead: {hashes[-1]}\n"
    _git(repo, "tag", "-s" if sign else "-a", "-m", message, tag, "HEAD")
    return tag


def anchor_problems(root: Path, repo: Path, name: str) -> list[str]:
    """Every anchor tag of ``name`` must match the ledger line it recorded."""
    if not NAME.match(name):
        raise InputError(f"anchor name {name!r}: use letters, digits, '.', '_' or '-'")
    refs = _git(
        repo, "for-each-ref", "--format=%(refname:short)", f"refs/tags/{TAG_PREFIX}/{name}/"
    )
    tags = [t for t in refs.splitlines() if t]
    if not tags:
        return [f"{repo}: no {TAG_PREFIX}/{name}/* tag to check the ledger against"]
    hashes = line_hashes(root)
    problems = []
    for tag in tags:
        body = _git(repo, "cat-file", "tag", tag)
        fields = dict(_FIELD.findall(body))
        if "-----BEGIN" in body:
            proc = run(["git", "-C", str(repo), "verify-tag", tag], timeout=GIT_TIMEOUT)
            if proc.returncode != 0:
                problems.append(f"anchor {tag}: its signature does not verify")
        try:
            seq, head = int(fields["seq"]), fields["head"]
        except (KeyError, ValueError):
            problems.append(f"anchor {tag}: not an ipai ledger anchor (no seq/head)")
            continue
        if seq > len(hashes):
            problems.append(f"anchor {tag}: the ledger has {len(hashes)} lines, fewer than {seq}")
        elif hashes[seq - 1] != head:
            problems.append(
                f"anchor {tag}: {LEDGER} line {seq} is not the anchored one (rewritten)"
            )
    return problems
