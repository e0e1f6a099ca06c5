"""``git grep`` over a repository's tracked text files, with what the commit holds kept in the
user cache (core/usercache.py) under the checkout's path, the commit's id and the search.

What a commit holds never changes, so the matches in it are found once: a later run searches
only the files ``git status`` says differ from HEAD, and takes the rest from the cache (files
unchanged since HEAD hold HEAD's bytes). Pinned OCA checkouts are mostly hundreds of megabytes
of unchanged ``i18n/*.po`` text, which a run then reads no more. An entry that cannot be read
is searched again; the cache never answers for a search it has not seen. Entries hold paths
and line numbers only, never matched text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..core.errors import ToolError
from ..core.gitstate import WorkTreeStatus, git
from ..core.usercache import read_entry, write_entry

GREP_TIMEOUT = 120.0
CACHE_KIND = "grep"
# Past this many changed files the whole work tree is searched, as with no cache (a command
# line holds the rest as pathspecs).
MAX_PATHSPECS = 2000
_ENTRY_FORMAT = "1"

Lines = set[tuple[str, int]]  # (repository-relative file, line number)


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


def cached_grep(repo: Path, status: WorkTreeStatus, search: list[str]) -> tuple[Lines, Lines]:
    """(the lines ``search`` matches in the work tree's tracked files now, those it matches
    in HEAD's tree). ``search``: git grep options and patterns, never a secret (they name the
    cache entry)."""
    changed = status.tracked_changes()
    if len(changed) > MAX_PATHSPECS:
        now = {(f, n) for f, n, _ in grep(repo, *search)}
        files = sorted({f for f, _ in now})
        return now, _in_head(repo, search, files) if files else set()
    committed = _committed(repo, status.head, changed, search)
    moved = set(changed)
    now = {hit for hit in committed if hit[0] not in moved}
    if changed:
        now |= {(f, n) for f, n, _ in grep(repo, *search, "--", *_literal(changed))}
    return now, committed


def _committed(repo: Path, head: str | None, changed: list[str], search: list[str]) -> Lines:
    """The lines HEAD's tree matches: cached by commit, else searched (unchanged files in the
    work tree, which git status vouches hold HEAD's bytes; changed ones in HEAD itself)."""
    if head is None:
        return set()
    # Keyed by checkout too: a sparse checkout searches only its cone, and must not hand its
    # smaller answer to a full checkout of the same commit.
    identity = "\0".join((_ENTRY_FORMAT, str(repo.resolve()), head, *search))
    key = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    cached = _read(key)
    if cached is not None:
        return cached
    pathspecs = [f":(exclude,literal){path}" for path in changed]
    found = {(f, n) for f, n, _ in grep(repo, *search, "--", ".", *pathspecs)}
    if changed:
        found |= _in_head(repo, search, changed)
    write_entry(CACHE_KIND, key, json.dumps(sorted(found)).encode())
    return found


def _in_head(repo: Path, search: list[str], files: list[str]) -> Lines:
    hits = grep(repo, *search, "HEAD", "--", *_literal(files), head=True)
    return {(f, n) for f, n, _ in hits}


def _read(key: str) -> Lines | None:
    data = read_entry(CACHE_KIND, key)
    if data is None:
        return None
    try:
        return {(str(f), int(n)) for f, n in json.loads(data)}
    except (ValueError, TypeError):
        return None  # torn or foreign: search again


def _literal(paths: list[str]) -> list[str]:
    """Pathspecs that mean these paths only (a file named ``*.po`` is not a glob)."""
    return [f":(literal){path}" for path in paths]
