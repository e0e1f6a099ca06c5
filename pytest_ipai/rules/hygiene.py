"""Repository hygiene: merge conflicts, dirty trees, committed secrets.

Tracked files are searched with ``git grep`` (fast, streams, skips binaries); candidates are
then judged line by line in Python. Findings name file:line, never a secret's value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import IpaiError, ToolError
from ..core.gitstate import git, git_raw
from ..core.redact import credential_parts, find_secrets
from ..core.textfile import read_text

GREP_TIMEOUT = 120.0


@dataclass(frozen=True)
class Hit:
    repo: Path
    file: str
    line: int
    what: str

    def where(self, base: Path | None = None) -> str:
        path = self.repo / self.file
        if base is not None and (base == path or base in path.parents):
            return f"{path.relative_to(base)}:{self.line}"
        return f"{path}:{self.line}"


def _grep(repo: Path, *args: str, head: bool = False) -> list[tuple[str, int, str]]:
    """``git grep -n -I`` over tracked files: (file, line, text). No match is an empty list.
    With ``head`` the search runs in a commit and git prefixes each file with ``<rev>:``."""
    code, out = git(repo, "grep", "-n", "-I", "--no-color", "-z", *args, timeout=GREP_TIMEOUT)
    if code == 1:
        return []
    if code != 0:
        raise ToolError(f"git grep failed in {repo}")
    hits = []
    for record in out.splitlines():
        parts = record.split("\0", 2)
        if len(parts) == 3 and parts[1].isdigit():
            name = parts[0].split(":", 1)[1] if head and ":" in parts[0] else parts[0]
            hits.append((name, int(parts[1]), parts[2]))
    return hits


_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


@dataclass(frozen=True)
class TreeState:
    repo: Path
    unmerged: list[str]
    changes: list[str]  # porcelain v1 lines, "XY path"
    markers: list[Hit]  # in files Odoo or the stack loads: a broken merge
    doc_markers: list[Hit]  # in documentation only (README.rst, readme/*.md): harmless to run


def tree_state(repo: Path) -> TreeState:
    """Unmerged paths and uncommitted changes (one git status) and conflict markers (git grep)."""
    code, out = git_raw(repo, "status", "--porcelain=v1", "--untracked-files=normal")
    if code != 0:
        raise ToolError(f"git status failed in {repo}")
    lines = [line for line in out.splitlines() if line]
    unmerged = sorted(line[3:] for line in lines if line[:2] in _UNMERGED)
    markers = conflict_markers(repo)
    return TreeState(
        repo,
        unmerged,
        lines,
        [hit for hit in markers if not is_documentation(hit.file)],
        [hit for hit in markers if is_documentation(hit.file)],
    )


_MARKERS = ("-E", "-e", "^<{7}( |$)", "-e", "^>{7}( |$)")
_DOC_SUFFIXES = (".rst", ".md", ".markdown", ".txt", ".adoc")


def is_documentation(file: str) -> bool:
    """A file nothing loads at run time: prose (README.rst, readme/*.md, CHANGES.txt) and an
    addon's description page (static/description/)."""
    parts = file.split("/")
    return (
        file.lower().endswith(_DOC_SUFFIXES)
        or "readme" in parts[:-1]
        or ("static" in parts and "description" in parts)
    )


def conflict_markers(repo: Path) -> list[Hit]:
    """Conflict markers in tracked files, each said to be committed at HEAD or a local change."""
    found = _grep(repo, *_MARKERS)
    if not found:
        return []
    files = sorted({f for f, _, _ in found})
    committed = {(f, n) for f, n, _ in _grep(repo, *_MARKERS, "HEAD", "--", *files, head=True)}
    return [
        Hit(
            repo,
            f,
            n,
            "conflict marker, committed at HEAD"
            if (f, n) in committed
            else "conflict marker, a local change (not committed)",
        )
        for f, n, _ in found
    ]


# Prefilters for git grep, one per pattern of pytest_ipai.core.redact (which then judges each line):
# as narrow as the patterns, so a large data file full of words like "password_hint" costs
# nothing, and capped per file so no file can flood the check.
_SECRET_CANDIDATES = (
    "PRIVATE KEY-----",
    "gh[pousr]_[A-Za-z0-9]{36}",
    "github_pat_",
    "(AKIA|ASIA)[0-9A-Z]{16}",
    "xox[abposr]-",
    "eyJ[A-Za-z0-9_-]{8,}[.]eyJ",
    "://[^:/ @]+:[^@ /]+@",
    "password[[:space:]]*=",
    "(passw(or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\"']?[[:space:]]*[:=]",
    "bearer[[:space:]]+[A-Za-z0-9._~+/=-]{16}",
)
MAX_CANDIDATES_PER_FILE = 1000


def _block(path: Path, number: int, line: str) -> str:
    """A key block from its BEGIN line on (at most 64 lines): one grep line cannot tell a key
    from a documentation example whose body is an elision."""
    try:
        lines = read_text(path, "file", max_bytes=1024 * 1024).splitlines()
    except IpaiError:
        return line
    return "\n".join(lines[number - 1 : number + 63]) or line


ALLOWLIST_PRAGMA = "pragma: allowlist secret"  # detect-secrets' inline convention


@dataclass
class SecretScan:
    hits: list[Hit]
    files_tracked: int
    suppressed: dict[str, int]  # why -> how many candidate lines were let through


def scan_secrets(repo: Path, ignore: list[str], secret_values: Iterable[str] = ()) -> SecretScan:
    """``committed_secrets`` with what a reader needs to trust it: how many files git tracks
    (none scanned is no pass) and how many candidates were suppressed, by reason."""
    code, out = git_raw(repo, "ls-files", "-z", "--cached")
    if code != 0:
        raise ToolError(f"git ls-files failed in {repo}")
    suppressed: dict[str, int] = {}
    hits = committed_secrets(repo, ignore, secret_values, suppressed)
    return SecretScan(hits, sum(1 for name in out.split("\0") if name), suppressed)


def committed_secrets(
    repo: Path,
    ignore: list[str],
    secret_values: Iterable[str] = (),
    suppressed: dict[str, int] | None = None,
) -> list[Hit]:
    """Credential-shaped strings in tracked files, and the values of the secrets the config
    names committed verbatim (in any form a program writes them). Lines under
    ``params.ignore_paths`` or marked ``pragma: allowlist secret`` are counted in
    ``suppressed``, not reported."""
    counts = suppressed if suppressed is not None else {}
    args = ["-i", "-E", f"--max-count={MAX_CANDIDATES_PER_FILE}"]
    for pattern in _SECRET_CANDIDATES:
        args += ["-e", pattern]
    found = _grep(repo, *args)
    values = sorted(credential_parts(secret_values))
    if values:
        fixed = ["-F", f"--max-count={MAX_CANDIDATES_PER_FILE}"]
        for value in values:
            fixed += ["-e", value]
        found += _grep(repo, *fixed)
    hits: dict[tuple[str, int, str], Hit] = {}
    for file, number, text in found:
        if any(fnmatch.fnmatch(file, pattern) for pattern in ignore):
            counts["ignore_paths"] = counts.get("ignore_paths", 0) + 1
            continue
        if ALLOWLIST_PRAGMA in text:
            counts["allowlist_pragma"] = counts.get("allowlist_pragma", 0) + 1
            continue
        if "PRIVATE KEY-----" in text:
            text = _block(repo / file, number, text)  # is it a key, or a documented shape?
        for finding in find_secrets(text, values):
            hits.setdefault((file, number, finding.kind), Hit(repo, file, number, finding.kind))
    return sorted(hits.values(), key=lambda h: (h.file, h.line, h.what))


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
HISTORY_TIMEOUT = 300.0


def history_secrets(
    repo: Path, ignore: list[str], secret_values: Iterable[str] = (), max_commits: int = 1000
) -> list[Hit]:
    """Secrets in the lines the last ``max_commits`` commits added (a secret removed from the
    tree is still in the history): each hit's ``what`` names the kind and the commit."""
    code, out = git_raw(
        repo, "log", f"--max-count={max_commits}", "-p", "-U0", "--no-color", "--no-ext-diff",
        "--format=commit %H", timeout=HISTORY_TIMEOUT,
    )  # fmt: skip
    if code != 0:
        raise ToolError(f"git log failed in {repo}")
    values = sorted(credential_parts(secret_values))
    hits: dict[tuple[str, str, str], Hit] = {}
    commit, file, number = "", "", 0
    for line in out.splitlines():
        if line.startswith("commit "):
            commit = line[7:19]
        elif line.startswith("+++ "):
            file = line[6:] if line.startswith("+++ b/") else ""
        elif (hunk := _HUNK.match(line)) is not None:
            number = int(hunk.group(1))
        elif line.startswith("+") and file:
            if not any(fnmatch.fnmatch(file, p) for p in ignore) and ALLOWLIST_PRAGMA not in line:
                for finding in find_secrets(line[1:], values):
                    what = f"{finding.kind}, added in {commit}"
                    hits.setdefault((file, finding.kind, commit), Hit(repo, file, number, what))
            number += 1
    return sorted(hits.values(), key=lambda h: (h.file, h.line, h.what))
