"""HEAD's commit read from a repository's files equals what ``git rev-parse`` says, in every
layout a stack's checkouts take; where the files cannot tell, the reader says so (None)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from gitrepo import GIT, commit_all, git_out, make_repo

from pytest_ipai.core.gitrefs import head_from_files
from pytest_ipai.core.gitstate import head_commit


def git(repo: Path, *args: str) -> None:
    subprocess.run([*GIT, "-C", str(repo), *args], check=True, timeout=60, capture_output=True)


def rev_parse(repo: Path) -> str:
    return git_out(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "repo", {"a.txt": "1\n"})
    commit_all(path, "first")
    (path / "a.txt").write_text("2\n")
    commit_all(path, "second")
    return path


def test_a_branch_in_a_loose_ref(repo: Path) -> None:
    assert head_from_files(repo) == rev_parse(repo)


def test_a_branch_only_in_packed_refs(repo: Path) -> None:
    git(repo, "pack-refs", "--all")
    branch = git_out(repo, "symbolic-ref", "HEAD").strip()
    assert not (repo / ".git" / branch).exists()
    assert head_from_files(repo) == rev_parse(repo)


def test_a_detached_head(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert head_from_files(repo) == rev_parse(repo)


def test_a_worktree_and_a_separate_git_dir(repo: Path, tmp_path: Path) -> None:
    git(repo, "pack-refs", "--all")
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"), "HEAD~1")
    assert head_from_files(tmp_path / "wt") == rev_parse(tmp_path / "wt")
    subprocess.run(
        [
            *GIT,
            "clone",
            "-q",
            "--separate-git-dir",
            str(tmp_path / "sep.git"),
            str(repo),
            str(tmp_path / "sub"),
        ],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert (tmp_path / "sub" / ".git").is_file()
    assert head_from_files(tmp_path / "sub") == rev_parse(tmp_path / "sub")


def test_a_shallow_clone(repo: Path, tmp_path: Path) -> None:
    subprocess.run(
        [*GIT, "clone", "-q", "--depth", "1", f"file://{repo}", str(tmp_path / "shallow")],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert head_from_files(tmp_path / "shallow") == rev_parse(tmp_path / "shallow")


def test_what_the_files_cannot_tell(repo: Path, tmp_path: Path) -> None:
    unborn = make_repo(tmp_path / "unborn", {"a.txt": "1\n"})
    assert head_from_files(unborn) is None
    assert head_commit(unborn) is None  # git agrees: no commit yet
    assert head_from_files(tmp_path / "nothing") is None
    (repo / ".git" / "reftable").mkdir()
    assert head_from_files(repo) is None  # another ref backend: git is asked
    (repo / ".git" / "reftable").rmdir()
    (repo / ".git" / "HEAD").write_text("garbage\n")
    assert head_from_files(repo) is None
