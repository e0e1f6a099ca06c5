"""Do the stack's addons-manifest files agree? Each pair is compared on what both declare:
the repository set, each shared repository's URL and ref, and the must-have modules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from .manifest_formats import DeclaredSource

SHOWN = 12  # names listed per difference before "and N more"
_SCP_URL = re.compile(r"^[\w.-]+@([\w.-]+):(.+)$")  # git@github.com:OCA/web.git


@dataclass(frozen=True)
class SyncFinding:
    error_class: str  # repos_differ | url_differs | ref_differs | must_have_differs
    message: str


def url_key(url: str) -> str:
    """A clone URL reduced to host/owner/name: https, ssh and scp-like forms of one
    repository, with or without ``.git`` or a trailing slash, are the same repository."""
    text = url.strip()
    scp = _SCP_URL.match(text)
    if scp is not None and "://" not in text:
        host, rest = scp.group(1), scp.group(2)
    else:
        rest = text.split("://", 1)[-1]
        host, _, rest = rest.partition("/")
        host = host.rsplit("@", 1)[-1].split(":", 1)[0]
    rest = rest.strip("/").removesuffix(".git")
    return f"{host.lower()}/{rest}"


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _both_ways(what: str, a: str, b: str, only_a: list[str], only_b: list[str]) -> str:
    parts = []
    if only_a:
        parts.append(f"{len(only_a)} {what} only in {a}: {_names(only_a)}")
    if only_b:
        parts.append(f"{len(only_b)} {what} only in {b}: {_names(only_b)}")
    return "; ".join(parts)


def compare_sources(
    sources: list[DeclaredSource], base: Path
) -> tuple[list[SyncFinding], list[dict[str, Any]]]:
    """Findings for every pair that disagrees, and what each pair had in common to compare."""
    findings: list[SyncFinding] = []
    pairs: list[dict[str, Any]] = []
    for a, b in combinations(sources, 2):
        la, lb = _label(a, base), _label(b, base)
        compared: list[str] = []
        if a.repos is not None and b.repos is not None:
            compared.append("repositories")
            only_a = sorted(set(a.repos) - set(b.repos))
            only_b = sorted(set(b.repos) - set(a.repos))
            if only_a or only_b:
                text = _both_ways("repositories", la, lb, only_a, only_b)
                findings.append(SyncFinding("repos_differ", f"{la} vs {lb}: {text}"))
            for name in sorted(set(a.repos) & set(b.repos)):
                ra, rb = a.repos[name], b.repos[name]
                if ra.url and rb.url and url_key(ra.url) != url_key(rb.url):
                    findings.append(
                        SyncFinding(
                            "url_differs",
                            f"{name}: url {ra.url} in {la}, {rb.url} in {lb}",
                        )
                    )
                if ra.ref and rb.ref and ra.ref != rb.ref:
                    findings.append(
                        SyncFinding(
                            "ref_differs",
                            f"{name}: ref {ra.ref} in {la}, {rb.ref} in {lb}",
                        )
                    )
        ma, mb = a.module_set(), b.module_set()
        if ma is not None and mb is not None:
            compared.append("must-have modules")
            only_a, only_b = sorted(ma - mb), sorted(mb - ma)
            if only_a or only_b:
                text = _both_ways("must-have modules", la, lb, only_a, only_b)
                findings.append(SyncFinding("must_have_differs", f"{la} vs {lb}: {text}"))
        pairs.append({"a": la, "b": lb, "compared": compared})
    return findings, pairs


def _label(source: DeclaredSource, base: Path) -> str:
    path = source.file
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
