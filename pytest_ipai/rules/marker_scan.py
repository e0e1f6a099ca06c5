"""Conflict markers in a repository's tracked text files, each said to be committed at HEAD or
a local change; and the ``git grep`` the repository scans share.

What a commit holds never changes, so the markers committed in it are found once and kept in
the user cache under the checkout's path and the commit's id (core/usercache.py): a later run
searches only the files ``git status`` says differ from HEAD. Pinned OCA checkouts are mostly
hundreds of megabytes of unchanged ``i18n/*.po`` text, which a run then reads no more. An entry
that cannot be read is searched again; the cache never decides a verdict it has not seen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ToolError
from ..core.gitstate import WorkTreeStatus, git
from ..core.usercache import read_entry, write_entry

GREP_TIMEOUT = 120.0
CACHE_KIND = "conflict-markers"
# Past this many changed files the scan searches the whole work tree, as with no cache (a
# command line holds the rest as pathspecs).
MAX_PATHSPECS = 2000

# PCRE (as the secrets scan uses): its JIT makes this pass over every tracked text file a
# third faster than git's extended regexes.
_MARKERS = ("-P", "-e", "^(?:<{7}|>{7})(?: |$)")
# Names the cache entries: a new expression or entry format is a new key for every commit.
_CACHE_FORMAT = hashlib.sha256(("\0".join(("1", "-I", *_MARKERS))).encode()).hexdigest()

Found = set[tuple[str, int]]  # (repository-relative file, line)


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


def grep(repo: Path, *args: str, head: bool = False) -> list[tuple[str, int, str]]:
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


def conflict_markers(repo: Path, status: WorkTreeStatus) -> list[Hit]:
    """Conflict markers in tracked files as they are in the work tree. Files unchanged since
    HEAD hold what HEAD holds (its markers, from the cache when known); changed files are
    searched as they are now."""
    changed = status.tracked_changes()
    if len(changed) > MAX_PATHSPECS:
        return _whole_tree(repo)
    committed = _committed(repo, status.head, changed)
    moved = set(changed)
    found = sorted(hit for hit in committed if hit[0] not in moved)
    if changed:
        found += [(f, n) for f, n, _ in grep(repo, *_MARKERS, "--", *_literal(changed))]
    return [_hit(repo, f, n, (f, n) in committed) for f, n in sorted(set(found))]


def _committed(repo: Path, head: str | None, changed: list[str]) -> Found:
    """The markers HEAD's tree holds: cached by commit, else searched (unchanged files in the
    work tree, which git status vouches hold HEAD's bytes; changed ones in HEAD itself)."""
    if head is None:
        return set()
    # Keyed by checkout too: a sparse checkout searches only its cone, and must not hand
    # its smaller answer to a full checkout of the same commit.
    key = hashlib.sha256(f"{_CACHE_FORMAT}\0{repo.resolve()}\0{head}".encode()).hexdigest()
    cached = _read(key)
    if cached is not None:
        return cached
    pathspecs = [f":(exclude,literal){path}" for path in changed]
    found = {(f, n) for f, n, _ in grep(repo, *_MARKERS, "--", ".", *pathspecs)}
    if changed:
        found |= {
            (f, n) for f, n, _ in grep(repo, *_MARKERS, "HEAD", "--", *_literal(changed), head=True)
        }
    write_entry(CACHE_KIND, key, json.dumps(sorted(found)).encode())
    return found


def _read(key: str) -> Found | None:
    data = read_entry(CACHE_KIND, key)
    if data is None:
        return None
    try:
        entries = json.loads(data)
        return {(str(f), int(n)) for f, n in entries}
    except (ValueError, TypeError):
        return None  # torn or foreign: search again


def _whole_tree(repo: Path) -> list[Hit]:
    found = grep(repo, *_MARKERS)
    if not found:
        return []
    files = sorted({f for f, _, _ in found})
    committed = {
        (f, n) for f, n, _ in grep(repo, *_MARKERS, "HEAD", "--", *_literal(files), head=True)
    }
    return [_hit(repo, f, n, (f, n) in committed) for f, n, _ in found]


def _literal(paths: list[str]) -> list[str]:
    """Pathspecs that mean these paths only (a file named ``*.po`` is not a glob)."""
    return [f":(literal){path}" for path in paths]


def _hit(repo: Path, file: str, line: int, committed: bool) -> Hit:
    what = (
        "conflict marker, committed at HEAD"
        if committed
        else "conflict marker, a local change (not committed)"
    )
    return Hit(repo, file, line, what)
