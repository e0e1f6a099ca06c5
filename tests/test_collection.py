"""Gate ids are unique and mandatory; markers are registered; bundled checks run from anywhere."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from conftest import assert_predeploy_passes_from, by_gate, only_pack


def test_duplicate_gate_id_is_a_collection_error(project: Any) -> None:
    p = project({"demo.same": {}})
    p.pytester.makepyfile(
        test_a="import pytest\n@pytest.mark.predeploy\n@pytest.mark.gate('demo.same')\ndef test_a():\n    pass\n",
        test_b="import pytest\n@pytest.mark.predeploy\n@pytest.mark.gate('demo.same')\ndef test_b():\n    pass\n",
    )
    for xdist in (False, True):
        result = p.run(xdist=xdist)
        assert result.ret == 2
        result.stdout.fnmatch_lines(
            ["*duplicate gate id demo.same: test_a.py::test_a and test_b.py::test_b*"]
        )
        assert "1 passed" not in result.stdout.str()  # nothing ran


def test_suite_marker_without_gate_id_is_a_collection_error(project: Any) -> None:
    p = project({})
    p.pytester.makepyfile(test_x="import pytest\n@pytest.mark.predeploy\ndef test_x():\n    pass\n")
    result = p.run(xdist=False)
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*test_x.py::test_x: marked predeploy but has no gate id*"])


def test_malformed_gate_id_is_a_collection_error(project: Any) -> None:
    p = project({})
    p.pytester.makepyfile(
        test_x="import pytest\n@pytest.mark.predeploy\n@pytest.mark.gate('Not An Id')\ndef test_x():\n    pass\n"
    )
    result = p.run(xdist=False)
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*gate id must be a dotted lower-case name*"])


def test_gate_in_the_wrong_suite_is_a_collection_error(project: Any) -> None:
    p = project({"demo.pre": {}})
    p.pytester.makepyfile(
        test_x="import pytest\n@pytest.mark.postdeploy\n@pytest.mark.gate('demo.pre')\ndef test_x():\n    pass\n"
    )
    result = p.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ipai-config", "ipai.toml", "."
    )
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        ["*gate demo.pre is marked postdeploy but the policy puts it in predeploy*"]
    )


def test_markers_are_registered_under_strict_markers(project: Any) -> None:
    p = project({"demo.ok": {}})
    p.pytester.makepyfile(
        test_x="import pytest\n@pytest.mark.predeploy\n@pytest.mark.gate('demo.ok', severity='minor')\n"
        "def test_x():\n    pass\n"
    )
    result = p.run("--strict-markers", xdist=False)
    assert result.ret == 0
    help_text = p.pytester.runpytest_subprocess("--markers").stdout.str()
    for marker in ("predeploy:", "postdeploy:", "gate(gate_id"):
        assert marker in help_text


def test_policy_timeout_becomes_a_pytest_timeout_marker(project: Any) -> None:
    p = project({"demo.slow": {"timeout": 1}})
    p.pytester.makepyfile(
        test_x="import time, pytest\n@pytest.mark.predeploy\n@pytest.mark.gate('demo.slow')\n"
        "def test_x():\n    time.sleep(30)\n"
    )
    result = p.run("-o", "timeout_method=signal", xdist=False, timeout=60)
    assert result.ret == 1
    gate = by_gate(only_pack(p.evidence))["demo.slow"]
    assert (gate["status"], gate["error_class"]) == ("error", "timeout")
    assert gate["duration"] < 20


def test_plugin_stays_out_of_ordinary_runs(pytester: Any) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0
    assert not (pytester.path / "evidence").exists()


def test_bundled_checks_run_from_any_directory(demo_stack: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert_predeploy_passes_from(sys.executable, demo_stack, elsewhere)
