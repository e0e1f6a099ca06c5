"""The plugin turns every outcome into a gate result and a pack, with and without xdist."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from conftest import by_gate, load, only_pack, run_ipai

from pytest_ipai.evidence.journal import chain_problems, read_entries

GATES = {
    "demo.passes": {},
    "demo.fails": {"severity": "critical"},
    "demo.asserts": {},
    "demo.setup_error": {},
    "demo.skipped": {"required": False},
    "demo.never_collected": {},
}

OUTCOMES = """
import pytest

pytestmark = pytest.mark.predeploy


@pytest.mark.gate("demo.passes")
def test_passes(ipai_gate):
    ipai_gate.measure("answer", 42, "count")
    ipai_gate.attempt("ok", "first try")
    ipai_gate.blob("probe.txt", "raw probe output")


@pytest.mark.gate("demo.fails")
def test_fails(ipai_gate):
    ipai_gate.fail("thing_broken", "the thing at /srv/x is broken")


@pytest.mark.gate("demo.asserts")
def test_asserts():
    assert 1 + 1 == 3, "arithmetic is off"


@pytest.fixture
def exploding():
    raise RuntimeError("fixture exploded")


@pytest.mark.gate("demo.setup_error")
def test_setup_error(exploding):
    pass


@pytest.mark.gate("demo.skipped")
def test_skipped():
    pytest.skip("nothing to check here")

"""


def assert_pack_consistent(pack: Any, exit_code: int) -> None:
    """results.json, the journal, junit.xml and the coverage tell the same story."""
    document = load(pack)
    assert document["exit_code"] == exit_code
    problems, head = chain_problems(pack / "journal.jsonl")
    assert problems == []
    assert head == document["journal_head"]
    journaled = {
        e["result"]["gate_id"]: e["result"]["status"]
        for e in read_entries(pack / "journal.jsonl")
        if e["kind"] == "result"
    }
    listed = {r["gate_id"]: r["status"] for r in document["results"]}
    assert journaled == listed
    assert set(junit_cases(pack)) == set(listed)
    coverage = document["coverage"]
    assert sorted(coverage["executed"] + coverage["not_run"]) == sorted(listed)
    assert coverage["not_run"] == [g for g in coverage["expected"] if listed[g] == "not_run"]
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0


def junit_cases(pack: Any) -> dict[str, ET.Element]:
    tree = ET.parse(pack / "junit.xml")
    return {case.get("name"): case for case in tree.iter("testcase")}


@pytest.mark.parametrize("xdist", [False, True], ids=["no-xdist", "xdist"])
def test_every_outcome_becomes_a_result(project: Any, xdist: bool) -> None:
    p = project(GATES)
    p.pytester.makepyfile(test_outcomes=OUTCOMES, test_plain="def test_not_a_gate():\n    pass\n")
    result = p.run(xdist=xdist)
    assert result.ret == 1
    pack = only_pack(p.evidence)
    gates = by_gate(pack)
    assert {g: r["status"] for g, r in gates.items()} == {
        "demo.passes": "pass",
        "demo.fails": "fail",
        "demo.asserts": "fail",
        "demo.setup_error": "error",
        "demo.skipped": "skipped",
        "demo.never_collected": "not_run",
    }
    assert gates["demo.fails"]["error_class"] == "thing_broken"
    assert gates["demo.fails"]["severity"] == "critical"
    assert gates["demo.fails"]["message"] == "the thing at /srv/x is broken"
    assert gates["demo.asserts"]["error_class"] == "assertion_failed"
    assert "arithmetic is off" in gates["demo.asserts"]["message"]
    assert gates["demo.setup_error"]["error_class"] == "setup_error"
    assert "fixture exploded" in gates["demo.setup_error"]["message"]
    assert gates["demo.skipped"]["message"] == "nothing to check here"
    passed = gates["demo.passes"]
    assert passed["measurements"] == {"answer": {"value": 42, "unit": "count"}}
    assert [a["outcome"] for a in passed["attempts"]] == ["ok"]
    blob = passed["blobs"][0]
    assert (pack / "blobs" / blob["sha256"]).read_text() == "raw probe output"

    document = load(pack)
    assert document["coverage"]["not_run"] == ["demo.never_collected"]
    assert sorted(document["coverage"]["executed"]) == sorted(set(GATES) - {"demo.never_collected"})
    assert document["exit_code"] == 1
    assert document["summary"]["fail"] == 2

    # The journal holds one chained line per result, in arrival order, between the start line
    # and the finish line (the exit code and the pack's documents).
    problems, head = chain_problems(pack / "journal.jsonl")
    assert problems == []
    assert head == document["journal_head"]
    entries = list(read_entries(pack / "journal.jsonl"))
    assert entries[0]["kind"] == "start"
    assert sorted(e["result"]["gate_id"] for e in entries[1:-1]) == sorted(GATES)
    assert (entries[-1]["kind"], entries[-1]["exit_code"]) == ("finish", 1)

    cases = junit_cases(pack)
    assert set(cases) == set(GATES)
    assert cases["demo.fails"].find("failure").get("type") == "thing_broken"
    assert cases["demo.setup_error"].find("error") is not None
    assert cases["demo.never_collected"].find("error").get("type") == "not_run"
    assert cases["demo.skipped"].find("skipped") is not None
    assert cases["demo.passes"].find("failure") is None
    assert_pack_consistent(pack, exit_code=1)


@pytest.mark.parametrize("xdist", [False, True], ids=["no-xdist", "xdist"])
def test_all_pass_exits_zero(project: Any, xdist: bool) -> None:
    p = project({"demo.passes": {}})
    p.pytester.makepyfile(
        test_ok="import pytest\n@pytest.mark.predeploy\n@pytest.mark.gate('demo.passes')\n"
        "def test_ok():\n    pass\n"
    )
    result = p.run(xdist=xdist)
    assert result.ret == 0
    pack = only_pack(p.evidence)
    assert load(pack, "manifest.json")["interrupted"] is False
    assert_pack_consistent(pack, exit_code=0)


HANG = """
import time
import pytest

pytestmark = pytest.mark.predeploy


@pytest.mark.gate("demo.before")
def test_before():
    pass


@pytest.mark.gate("demo.hangs")
def test_hangs():
    time.sleep(60)


@pytest.mark.gate("demo.after")
def test_after():
    pass
"""

CRASH = HANG.replace("time.sleep(60)", "import os; os._exit(3)")


def test_timeout_kill_under_xdist_is_an_error_for_that_gate(project: Any) -> None:
    p = project({"demo.before": {}, "demo.hangs": {"timeout": 2}, "demo.after": {}})
    p.pytester.makepyfile(test_hang=HANG)
    result = p.run("-o", "timeout_method=thread", "-p", "no:randomly", xdist=True)
    assert result.ret == 1
    gates = by_gate(only_pack(p.evidence))
    assert gates["demo.hangs"]["status"] == "error"
    assert gates["demo.hangs"]["error_class"] == "timeout"
    assert gates["demo.hangs"]["severity"] == "normal"  # metadata survived the dead worker
    assert gates["demo.hangs"]["nodeid"].endswith("test_hang.py::test_hangs")
    assert gates["demo.before"]["status"] == "pass"
    assert gates["demo.after"]["status"] == "pass"  # a replacement worker ran the rest
    pack = only_pack(p.evidence)
    assert junit_cases(pack)["demo.hangs"].find("error").get("type") == "timeout"
    assert_pack_consistent(pack, exit_code=1)


def test_worker_crash_under_xdist_is_an_error_for_that_gate(project: Any) -> None:
    p = project({"demo.before": {}, "demo.hangs": {}, "demo.after": {}})
    p.pytester.makepyfile(test_crash=CRASH)
    result = p.run(xdist=True)
    assert result.ret == 1
    pack = only_pack(p.evidence)
    gates = by_gate(pack)
    assert gates["demo.hangs"]["status"] == "error"
    assert gates["demo.hangs"]["error_class"] == "worker_crashed"
    assert gates["demo.before"]["status"] == "pass"
    assert gates["demo.after"]["status"] == "pass"
    cases = junit_cases(pack)
    assert cases["demo.hangs"].find("error").get("type") == "worker_crashed"
    assert_pack_consistent(pack, exit_code=1)


@pytest.mark.parametrize("source", [HANG, CRASH], ids=["timeout", "os-exit"])
def test_killed_process_without_xdist_is_recovered(project: Any, source: str) -> None:
    p = project({"demo.before": {}, "demo.hangs": {"timeout": 2}, "demo.after": {}})
    p.pytester.makepyfile(test_dies=source)
    result = p.run("-o", "timeout_method=thread", xdist=False)
    assert result.ret != 0  # the process itself died (pytest-timeout exits 1, os._exit 3)
    assert not list(p.evidence.glob("2*/*")), "no pack can be published by a dead process"
    staged = list((p.evidence / ".staging").iterdir())
    assert len(staged) == 1 and (staged[0] / "inflight.jsonl").is_file()

    recovered = run_ipai("evidence", "recover", "--evidence-root", str(p.evidence))
    assert recovered.returncode == 0, recovered.stderr
    pack = only_pack(p.evidence)
    gates = by_gate(pack)
    assert gates["demo.before"]["status"] == "pass"
    assert gates["demo.hangs"]["status"] == "error"
    assert gates["demo.hangs"]["error_class"] == "process_died"
    assert gates["demo.after"]["status"] == "not_run"
    document = load(pack)
    assert document["interrupted"] is True
    assert document["exit_code"] == 1
    assert document["coverage"]["not_run"] == ["demo.after"]
    assert junit_cases(pack)["demo.hangs"].find("error").get("type") == "process_died"
    assert junit_cases(pack)["demo.after"].find("error").get("type") == "not_run"
    assert_pack_consistent(pack, exit_code=1)
    assert not list((p.evidence / ".staging").iterdir())


def test_next_run_recovers_an_orphaned_run_first(project: Any) -> None:
    p = project({"demo.before": {}, "demo.hangs": {}, "demo.after": {}})
    p.pytester.makepyfile(test_dies=CRASH)
    assert p.run(xdist=False).ret not in (0, 1)
    p.pytester.makepyfile(test_dies=HANG.replace("time.sleep(60)", "pass"))
    result = p.run(xdist=False)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*recovered an interrupted run into*"])
    packs = sorted(p.evidence.glob("2*/*"))
    statuses = sorted(load(pack)["exit_code"] for pack in packs)
    assert statuses == [0, 1]
