"""The manifest rules against what a real Odoo 18.0 loader did with the same manifests (the
throwaway addons of the observations: defaults, a string 'depends', license MIT, auto_install
outside depends, bad and other-series versions, a call, a syntax error, no __init__.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pytest_ipai.addons.discovery import discover
from pytest_ipai.addons.manifest_file import parse_manifest
from pytest_ipai.addons.versions import adapt_version, version_problem
from pytest_ipai.core.outcomes import GateFailure
from pytest_ipai.core.recorder import GateRecorder


def manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "addon" / "__manifest__.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def classes(tmp_path: Path, text: str) -> dict[str, bool]:
    parsed = parse_manifest(manifest(tmp_path, text), "18.0")
    return {p.error_class: p.blocking for p in parsed.problems}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Odoo installed it: maintainer and author lists stored as text, license defaulted.
        (
            "{'name': 'd', 'depends': ['base'], 'maintainer': ['Alice', 'Bob'],"
            " 'auto_install': ['base'], 'author': ['A1', 'A2']}",
            {"manifest_list_as_text": False, "license_missing": False},
        ),
        # Dependencies b, a, s, e: the install failed.
        ("{'name': 'd', 'depends': 'base', 'license': 'LGPL-3'}", {"depends_not_list": True}),
        # Every -i and -u of the database failed with this addon on the path.
        ("{'name': 'd', 'license': 'MIT'}", {"license_invalid": True}),
        # AssertionError in the loader: creating any new database failed.
        (
            "{'name': 'd', 'depends': ['base'], 'auto_install': ['mail'], 'license': 'LGPL-3'}",
            {"auto_install_not_in_depends": True},
        ),
        # A string auto_install is a set of characters for Odoo.
        (
            "{'name': 'd', 'depends': ['mail'], 'auto_install': 'mail', 'license': 'LGPL-3'}",
            {"auto_install_not_in_depends": True},
        ),
        ("{'name': 'd', 'version': '1', 'license': 'LGPL-3'}", {"version_invalid": True}),
        ("{'name': 'd', 'version': '17.0.1.0.0', 'license': 'LGPL-3'}", {"version_invalid": True}),
        ("{'name': 'd', 'version': 'v1.0', 'license': 'LGPL-3'}", {"version_invalid": True}),
        ("{'name': 'd', 'version': 1.0, 'license': 'LGPL-3'}", {"version_invalid": True}),
        # installable False: the version is not checked, and -i is a silent no-op.
        (
            "{'name': 'd', 'version': '16.0.1.0.0', 'installable': False, 'license': 'LGPL-3'}",
            {"not_installable": False},
        ),
        ("{'name': 'd', 'license': str('LGPL-3')}", {"manifest_invalid": True}),
        ("{'name': 'd',", {"manifest_syntax_error": True}),
        # Odoo's defaults: no version (1.0), no installable (True): nothing wrong.
        ("{'name': 'Contacts', 'depends': ['mail'], 'license': 'LGPL-3'}", {}),
        ("{'name': 'd', 'data': 'views.xml', 'license': 'LGPL-3'}", {"manifest_invalid": True}),
    ],
)
def test_rules_follow_what_odoo_did(tmp_path: Path, text: str, expected: dict[str, bool]) -> None:
    assert classes(tmp_path, text) == expected


def test_messages_say_what_odoo_does(tmp_path: Path) -> None:
    parsed = parse_manifest(manifest(tmp_path, "{'name': 'd',\n 'depends': 'base'}"), "18.0")
    (problem,) = parsed.blocking
    assert problem.line == 2
    assert "dependencies 'b', 'a', 's', 'e'" in problem.message
    parsed = parse_manifest(manifest(tmp_path, "{'name': 'd', 'license': 'MIT'}"), "18.0")
    assert "every -i and -u of the database fails" in parsed.blocking[0].message


@pytest.mark.parametrize(
    ("version", "stored", "valid"),
    [
        ("1.0", "18.0.1.0", True),
        ("1.0.0", "18.0.1.0.0", True),
        ("18.0", "18.0.18.0", True),
        ("18.0.1.0", "18.0.1.0", True),
        ("18.0.1.0.0", "18.0.1.0.0", True),
        ("18.0.1.0.0.0", None, False),
        ("17.0.1.0.0", None, False),
        ("1", None, False),
        ("1.0.0.0", None, False),
        ("1.0a", None, False),
        ("v1.0", None, False),
        ("", None, False),
        ("18.0.1", None, False),
    ],
)
def test_versions_as_adapt_version_measured(version: str, stored: str | None, valid: bool) -> None:
    assert (version_problem(version, "18.0") is None) is valid
    if stored is not None:
        assert adapt_version(version, "18.0") == stored


def addon(root: Path, name: str, text: str, init: bool = True, python: bool = True) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__manifest__.py").write_text(text)
    if init:
        (folder / "__init__.py").write_text("")
    if python:
        (folder / "models.py").write_text("")


def test_discovery_defaults_and_namespace_packages(tmp_path: Path) -> None:
    root, empty = tmp_path / "addons", tmp_path / "OCA"
    empty.mkdir()
    (empty / "web").mkdir()  # an empty submodule
    addon(root, "contacts", "{'name': 'Contacts', 'license': 'LGPL-3'}")
    addon(root, "no_init", "{'name': 'n', 'license': 'LGPL-3'}", init=False)
    addon(root, "data_only", "{'name': 'n', 'license': 'LGPL-3'}", init=False, python=False)
    addon(root, "old", "{'name': 'o', 'version': '15.0.1.0.0', 'installable': False}")
    tree = discover([root, empty], tmp_path, "18.0")
    assert tree.addons["contacts"].version == "1.0"
    assert not tree.addons["contacts"].version_declared
    assert sorted(tree.addons) == ["contacts", "data_only", "old"]
    (problem,) = tree.problems
    assert problem.error_class == "addon_not_package"
    assert "empty namespace package" in problem.message
    assert tree.empty_roots == [empty]
    assert {n.error_class for n in tree.notices} == {"not_installable", "license_missing"}


def test_findings_lead_with_the_most_severe_class_and_show_every_class() -> None:
    gate = GateRecorder("x")
    findings = [("unresolved_dependency", f"a{i} -> missing{i} (not found)") for i in range(55)]
    findings.append(("dependency_cycle", "c -> d -> c"))
    with pytest.raises(GateFailure) as caught:
        gate.fail_findings(findings, rank=("dependency_cycle", "unresolved_dependency"))
    assert caught.value.error_class == "dependency_cycle"
    assert str(caught.value.message).startswith("c -> d -> c (also: unresolved_dependency (55)")
    assert "e.g. a0 -> missing0 (not found)" in caught.value.message
    assert gate.measurements["error_classes"] == {
        "dependency_cycle": 1,
        "unresolved_dependency": 55,
    }
    # The message names a few; the findings blob names every one it counted.
    (blob,) = [b for b in gate.blobs if b["name"] == "findings.json"]
    listed = json.loads(base64.b64decode(blob["b64"]))
    assert (
        len(listed) == 56
        and {"class": "unresolved_dependency", "finding": "a54 -> missing54 (not found)"} in listed
    )


def test_notices_are_counted_with_examples() -> None:
    gate = GateRecorder("x")
    for i in range(25):
        gate.notice("tree_not_installable", f"m{i}")
    entry = gate.measurements["notices"]["tree_not_installable"]
    assert entry["count"] == 25 and len(entry["examples"]) == 20
