"""The addons model: safe manifest parsing, discovery along addons_path, versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_ipai.addons.discovery import discover
from pytest_ipai.addons.manifest_file import ManifestProblem, parse_manifest
from pytest_ipai.addons.versions import adapt_version, version_problem


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def addon(root: Path, name: str, manifest: str = '{"name": "X", "version": "1.0.0"}') -> Path:
    write(root / name / "__init__.py", "")
    write(root / name / "__manifest__.py", manifest)
    return root / name


def problem(path: Path) -> ManifestProblem:
    result = parse_manifest(path, "18.0")
    assert result.blocking, result
    return result.blocking[0]


def test_a_real_shaped_manifest_parses(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.py",
        '# -*- coding: utf-8 -*-\n"""doc"""\n{\n  "name": "Queue Job",\n  "version": "18.0.1.2.0",\n  "depends": ["base", "web"],\n  "auto_install": False,\n  "installable": True,\n}\n',
    )
    parsed = parse_manifest(path, "18.0")
    assert parsed.problems == [
        ManifestProblem(
            "license_missing", path, None, "no license: Odoo warns and assumes LGPL-3", False
        )
    ]
    assert parsed.data == {
        "name": "Queue Job",
        "version": "18.0.1.2.0",
        "depends": ["base", "web"],
        "auto_install": False,
        "installable": True,
    }


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    found = problem(write(tmp_path / "m.py", '{\n  "name": "X",\n  "depends": ["base"\n}\n'))
    assert found.error_class == "manifest_syntax_error"
    assert found.line == 4  # where Python notices; the message names line 3 too
    assert "opening parenthesis '[' on line 3" in found.message
    assert found.where() == f"{tmp_path / 'm.py'}:4"


def test_non_utf8_manifest(tmp_path: Path) -> None:
    found = problem(write(tmp_path / "m.py", b'{\n "name": "caf\xe9"}\n'))
    assert (found.error_class, found.line) == ("manifest_invalid", 2)
    assert "not UTF-8" in found.message


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ('["not", "a", "dict"]\n', "not a single dict literal", 1),
        ('x = 1\n{"name": "X"}\n', "not a single dict literal", 1),
        ('{"name": "X",\n "depends": __import__("os").listdir("/")}\n', "not a literal value", 2),
        ('{"name": "X", "data": "views.xml"}\n', "'data' must be a list of file names", 1),
    ],
)
def test_invalid_manifests(tmp_path: Path, text: str, expected: str, line: int | None) -> None:
    found = problem(write(tmp_path / "m.py", text))
    assert found.error_class == "manifest_invalid"
    assert expected in found.message
    assert found.line == line


def test_manifest_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    found = problem(write(tmp_path / "m.py", f'{{"name": open("{marker}", "w").write("x")}}\n'))
    assert found.error_class == "manifest_invalid"
    assert not marker.exists()


def test_oversized_manifest_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    with open(path, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB, sparse
    found = problem(path)
    assert found.message == "larger than 1 MiB"


def test_a_manifest_that_is_no_regular_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "m.py"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    assert problem(fifo).message == "manifest is a FIFO, not a regular file"


def test_discovery_first_match_wins_and_reports_problems(tmp_path: Path) -> None:
    first, second = tmp_path / "oca", tmp_path / "ipai"
    addon(first, "shared", '{"name": "first", "version": "1.0.0", "depends": ["base"]}')
    addon(second, "shared", '{"name": "second", "version": "2.0.0"}')
    addon(second, "ipai_ok")
    write(second / "not_a_package" / "__manifest__.py", '{"name": "X"}')
    write(second / "not_a_package" / "models.py", "")
    addon(second, "ipai_bad", "{")
    write(second / "plain_folder" / "README", "not an addon")
    big = addon(second, "ipai_big")
    (big / "static").mkdir()
    with open(big / "static" / "huge.bin", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # a 50 MB file in an addon changes nothing
    tree = discover([first, second, tmp_path / "missing"], tmp_path, "18.0")
    assert tree.addons["shared"].root == first
    assert tree.addons["shared"].depends == ("base",)
    assert [(w.root, s.root) for w, s in tree.shadowed] == [(first, second)]
    assert sorted(tree.addons) == ["ipai_big", "ipai_ok", "shared"]
    assert {(p.error_class, p.file.name) for p in tree.problems} == {
        ("addon_not_package", "not_a_package"),
        ("manifest_syntax_error", "__manifest__.py"),
    }
    assert tree.missing_roots == [tmp_path / "missing"]
    assert sorted(tree.found_in(second)) == ["ipai_big", "ipai_ok", "shared"]


def test_symlink_escaping_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    addon(outside, "evil")
    root = tmp_path / "stack" / "addons"
    root.mkdir(parents=True)
    os.symlink(outside / "evil", root / "evil")
    addon(root, "inside")
    os.symlink(root / "inside", root / "inside_link")
    tree = discover([root], tmp_path / "stack")
    assert "evil" not in tree.addons
    assert "inside_link" in tree.addons  # a link that stays inside is fine
    (escape,) = tree.problems
    assert escape.error_class == "manifest_invalid"
    assert "symlink leaves the stack tree" in escape.message


def test_manifest_symlinks_out_of_the_tree_or_in_a_loop(tmp_path: Path) -> None:
    root = tmp_path / "stack" / "addons"
    (root / "leaky").mkdir(parents=True)
    os.symlink("/proc/self/environ", root / "leaky" / "__manifest__.py")
    (root / "loop").mkdir()
    os.symlink(root / "loop" / "__manifest__.py", root / "loop" / "__manifest__.py")
    tree = discover([root], tmp_path / "stack")
    assert tree.addons == {}
    loop, leaky = sorted(p.message for p in tree.problems)
    assert loop == "__manifest__.py: a symlink loop"
    assert (
        leaky == f"__manifest__.py: symlink leaves the stack tree (to /proc/{os.getpid()}/environ)"
    )


@pytest.mark.parametrize(
    ("version", "adapted", "mismatch"),
    [
        ("1.3", "18.0.1.3", None),
        ("1.0.0", "18.0.1.0.0", None),
        ("18.0.1.0.0", "18.0.1.0.0", None),
        ("18.0", "18.0.18.0", None),
        ("17.0.1.0.0", "18.0.17.0.1.0.0", "version 17.0.1.0.0 is for series 17.0, not 18.0"),
        (
            "1.0-beta",
            "18.0.1.0-beta",
            "version '1.0-beta' is not x.y, x.y.z, 18.0.x.y or 18.0.x.y.z (Odoo refuses the manifest)",
        ),
    ],
)
def test_versions_adapt_like_odoo(version: str, adapted: str, mismatch: str | None) -> None:
    assert adapt_version(version, "18.0") == adapted
    assert version_problem(version, "18.0") == mismatch
