"""How a pre-deploy run treats the stack it judges: the addons tree read once however many
workers run it, and the tool's own files never counted as a dirty tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from inotify_reads import ReadCounter
from test_predeploy_gates import commit, git, suite, write_manifest


@pytest.mark.parametrize("workers", [None, "2"])
def test_the_addons_tree_is_read_once_per_run(demo_stack: Path, workers: str | None) -> None:
    """However many workers run the suite, the addons tree is parsed once: the controller
    parses it while its workers start, and they take it from the run's memo. The manifest
    watched is untracked, so no git grep reads it: each read is a parse. By default the
    pre-deploy suite runs in pytest's own process, no worker."""
    extra = demo_stack / "addons" / "ipai" / "ipai_extra"
    write_manifest(extra, "{'name': 'Extra', 'version': '18.0.1.0.0', 'depends': ['base']}")
    (extra / "__init__.py").write_text("")
    counter = ReadCounter(extra / "__manifest__.py")
    try:
        results = suite(demo_stack, *(["--workers", workers] if workers else []))
        reads = counter.reads()
    finally:
        counter.close()
    assert results["addons.manifests_valid"]["status"] == "pass"
    assert results["addons.dependencies"]["measurements"]["roots"] == 7  # it is in the tree
    assert reads == 1
    used = {r["worker"] for r in results.values()}
    assert used == {None} if workers is None else used <= {"gw0", "gw1"}


def test_the_tool_never_dirties_what_it_judges(demo_stack: Path) -> None:
    """In production, the tool's own files inside the stack repository (an uncommitted
    ipai.toml, the evidence root, the state file) are not a dirty tree: they are reported as
    such. Anything else uncommitted still is."""
    ignore = demo_stack / ".gitignore"
    ignore.write_text(ignore.read_text().replace("/evidence/\n", ""))
    commit(demo_stack, "evidence is no longer ignored")
    git(demo_stack, "rm", "-q", "--cached", "ipai.toml")  # the config was never committed
    git(demo_stack, "commit", "-q", "-m", "ipai.toml untracked")
    state = '[environments.prod]\nstate_file = "var/ipai-state.json"\n'
    config = demo_stack / "ipai.toml"
    config.write_text(config.read_text().replace("[environments.prod]\n", state, 1))
    (demo_stack / "var").mkdir()
    (demo_stack / "var" / "ipai-state.json").write_text("{}\n")
    suite(demo_stack, "--env", "prod")  # leaves its evidence in evidence/ (untracked)
    clean = suite(demo_stack, "--env", "prod")["git.clean"]
    assert clean["status"] == "pass", clean["message"]
    notices = clean["measurements"]["notices"]["own_files_uncommitted"]["examples"]
    assert {"ipai.toml (??)", "evidence/ (??)"} <= set(notices)
    assert any(n.startswith("var/") for n in notices)
    (demo_stack / "notes.txt").write_text("a change of the operator's\n")
    clean = suite(demo_stack, "--env", "prod")["git.clean"]
    assert clean["error_class"] == "dirty_tree"
    assert "1 uncommitted change(s), e.g. notes.txt" in clean["message"]
    (demo_stack / "notes.txt").unlink()
    (demo_stack / "var" / "dump.sql").write_text("-- beside the state file, not the tool's\n")
    clean = suite(demo_stack, "--env", "prod")["git.clean"]
    assert clean["error_class"] == "dirty_tree" and "e.g. var/dump.sql" in clean["message"]
