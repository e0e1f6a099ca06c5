"""Conflict markers in a repository's tracked text files, each said to be committed at HEAD or
a local change. What HEAD holds comes from the commit-keyed cache of grep_cache.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.gitstate import WorkTreeStatus
from .grep_cache import cached_grep

# PCRE (as the secrets scan uses): its JIT makes this pass over every tracked text file a
# third faster than git's extended regexes.
_MARKERS = ["-P", "-e", "^(?:<{7}|>{7})(?: |$)"]


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


def conflict_markers(repo: Path, status: WorkTreeStatus) -> list[Hit]:
    """Conflict markers in tracked files as they are in the work tree; one that HEAD holds on
    the same line is committed, any other a local change."""
    now, committed = cached_grep(repo, status, _MARKERS)
    return [
        Hit(
            repo,
            file,
            line,
            "conflict marker, committed at HEAD"
            if (file, line) in committed
            else "conflict marker, a local change (not committed)",
        )
        for file, line in sorted(now)
    ]
