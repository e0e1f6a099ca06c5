"""Searches cached per commit (conflict markers, the secrets prefilter): the same answers
cached or searched, each marker said to be committed at HEAD or a local change; a warm run
reads only what differs from HEAD, and the cache never hides what a new commit or a local
edit brings."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from gitrepo import GIT, commit_all, make_repo
from inotify_reads import ReadCounter

from pytest_ipai.core.gitstate import work_tree_status
from pytest_ipai.rules import grep_cache
from pytest_ipai.rules.marker_scan import conflict_markers

BROKEN = 'msgid "x"\n<<<<<<< HEAD\nmsgstr "a"\n=======\nmsgstr "b"\n>>>>>>> theirs\n'
T = TypeVar("T")
CLEAN_PO = 'msgid "x"\nmsgstr "y"\n'


def reading(path: Path, work: Callable[[], T]) -> tuple[T, int]:
    """What ``work`` returns, and how many times it (or git for it) read ``path``."""
    counter = ReadCounter(path)
    try:
        value = work()
        return value, counter.reads()
    finally:
        counter.close()


def scan(repo: Path) -> list[tuple[str, int, str]]:
    return [(h.file, h.line, h.what) for h in conflict_markers(repo, work_tree_status(repo))]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("IPAI_CACHE_DIR", str(folder))
    return folder / grep_cache.CACHE_KIND


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        "mod/i18n/de.po": BROKEN,
        "mod/i18n/fr.po": CLEAN_PO,
        "mod/models/a.py": "x = 1\n",
        "mod/static/icon.png": "\x89PNG\r\n\x1a\n\0<<<<<<< binary\n",
    }
    path = make_repo(tmp_path / "repo", files)
    # Written an hour ago, as a checkout's files are: a file as new as the index is "racily
    # clean", and git status reads it to be sure (which is git's business, not the scan's).
    hour_ago = time.time() - 3600
    for name in files:
        os.utime(path / name, (hour_ago, hour_ago))
    commit_all(path, "upstream, with a botched merge in de.po")
    return path


COMMITTED = [
    ("mod/i18n/de.po", 2, "conflict marker, committed at HEAD"),
    ("mod/i18n/de.po", 6, "conflict marker, committed at HEAD"),
]


def test_cold_and_warm_scans_agree_and_the_warm_one_reads_no_unchanged_file(
    repo: Path, cache: Path
) -> None:
    assert scan(repo) == COMMITTED
    assert len(list(cache.iterdir())) == 1  # one entry: this checkout at this commit
    (repo / "mod/models/a.py").write_text("<<<<<<< mine\nx = 2\n")
    warm, reads = reading(repo / "mod/i18n/de.po", lambda: scan(repo))
    assert warm == [
        *COMMITTED,
        ("mod/models/a.py", 1, "conflict marker, a local change (not committed)"),
    ]
    assert reads == 0  # de.po is unchanged since HEAD: its markers came from the cache


def test_without_the_cache_every_tracked_file_is_searched(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPAI_CACHE_DIR", "")
    twice, reads = reading(repo / "mod/i18n/de.po", lambda: [scan(repo), scan(repo)])
    assert twice == [COMMITTED, COMMITTED]
    assert reads >= 2


def test_a_new_commit_is_searched_again(repo: Path, cache: Path) -> None:
    assert scan(repo) == COMMITTED
    (repo / "mod/i18n/fr.po").write_text(BROKEN)
    commit_all(repo, "another botched merge")
    assert scan(repo) == [
        *COMMITTED,
        ("mod/i18n/fr.po", 2, "conflict marker, committed at HEAD"),
        ("mod/i18n/fr.po", 6, "conflict marker, committed at HEAD"),
    ]


def test_a_fixed_file_is_searched_as_it_is_now(repo: Path, cache: Path) -> None:
    assert scan(repo) == COMMITTED
    (repo / "mod/i18n/de.po").write_text(CLEAN_PO)  # resolved locally, not yet committed
    assert scan(repo) == []
    (repo / "mod/i18n/de.po").write_text(BROKEN.replace(">>>>>>> theirs", "x"))
    assert scan(repo) == [COMMITTED[0]]  # the line HEAD also has: still HEAD's marker


def test_a_renamed_file_and_a_file_named_like_a_glob(repo: Path, cache: Path) -> None:
    (repo / "mod/i18n/*.po").write_text(CLEAN_PO)
    commit_all(repo, "a file whose name is a glob")
    assert scan(repo) == COMMITTED
    subprocess.run(
        [*GIT, "-C", str(repo), "mv", "mod/i18n/de.po", "mod/i18n/es.po"], check=True, timeout=60
    )
    (repo / "mod/i18n/*.po").write_text(BROKEN)
    found = scan(repo)
    local = "conflict marker, a local change (not committed)"
    # The glob-named file is searched alone (not every .po), and the moved file is new at
    # its new path: HEAD has no es.po.
    assert found == [
        ("mod/i18n/*.po", 2, local),
        ("mod/i18n/*.po", 6, local),
        ("mod/i18n/es.po", 2, local),
        ("mod/i18n/es.po", 6, local),
    ]


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'[["a.po", "x"]]', b"[1, 2]"])
def test_an_unreadable_entry_is_searched_again(repo: Path, cache: Path, garbage: bytes) -> None:
    assert scan(repo) == COMMITTED
    (entry,) = cache.iterdir()
    entry.write_bytes(garbage)
    assert scan(repo) == COMMITTED


def test_a_repository_without_a_commit(tmp_path: Path, cache: Path) -> None:
    repo = make_repo(tmp_path / "new", {"a.po": BROKEN})
    local = "conflict marker, a local change (not committed)"
    assert scan(repo) == [("a.po", 2, local), ("a.po", 6, local)]


def test_the_secrets_scan_finds_committed_and_new_secrets_warm(repo: Path, cache: Path) -> None:
    from pytest_ipai.rules.secret_scan import scan_secrets

    (repo / "mod/conf.ini").write_text("[options]\nadmin_passwd = Zq8vK2pLm4Xw9RtY\n")
    old = time.time() - 3600
    os.utime(repo / "mod/conf.ini", (old, old))
    commit_all(repo, "a committed password")

    def findings() -> list[tuple[str, int]]:
        return [(f.file, f.line) for f in scan_secrets(repo, []).findings]

    cold, cold_reads = reading(repo / "mod/conf.ini", findings)
    assert cold == [("mod/conf.ini", 2)]
    (repo / "mod/models/a.py").write_text('x = 1\nDB_PASSWORD = "Vb7nQ1sW3eR5tY8u"\n')
    warm, reads = reading(repo / "mod/conf.ini", findings)
    assert warm == [("mod/conf.ini", 2), ("mod/models/a.py", 2)]
    # git's look at which files are text still reads it, and so does judging its line; the
    # search for candidate lines does not, warm.
    assert reads == cold_reads - 1
