"""Parse an addon's ``__manifest__.py`` the safe way (``ast`` and ``literal_eval``, never import)
and judge it by what Odoo's loader really does with it.

Odoo 18 reads a manifest with ``ast.literal_eval`` over a dict of defaults and type-checks almost
nothing, so the rules here are the ones whose breach breaks something (see
docs/addons-rules.md): blocking problems make Odoo refuse the addon or fail installs, notices
are what Odoo tolerates but a reader should know. A problem is returned, never raised, with the
error class the manifests gate reports and the file:line it points at.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import IpaiError
from ..core.paths import rel
from ..core.textfile import read_bytes
from .versions import version_problem

MAX_MANIFEST_BYTES = 1024 * 1024

# ir.module.module's license selection in Odoo 16-18: any other value makes update_list (run by
# every -i / -u) fail with "Wrong value for ir.module.module.license".
ODOO_LICENSES = frozenset(
    {
        "GPL-2",
        "GPL-2 or any later version",
        "GPL-3",
        "GPL-3 or any later version",
        "AGPL-3",
        "LGPL-3",
        "Other OSI approved licence",
        "OEEL-1",
        "OPL-1",
        "Other proprietary",
    }
)
# Keys Odoo iterates as lists of file names when it installs the addon: a string is read
# character by character and the install fails on the first "file".
_FILE_LIST_KEYS = ("data", "demo", "init_xml", "update_xml", "demo_xml")
# Keys Odoo stores as text: a list is stored as its Python repr ("['Alice', 'Bob']").
_TEXT_KEYS = ("author", "maintainer")


@dataclass(frozen=True)
class ManifestProblem:
    error_class: str
    file: Path
    line: int | None
    message: str
    blocking: bool = True

    def where(self, base: Path | None = None) -> str:
        name = rel(self.file, base) if base is not None else str(self.file)
        return f"{name}:{self.line}" if self.line else name


@dataclass
class ParsedManifest:
    """The manifest's data (None when it could not be read as a literal) and what is wrong."""

    data: dict[str, Any] | None
    problems: list[ManifestProblem] = field(default_factory=list)

    @property
    def blocking(self) -> list[ManifestProblem]:
        return [p for p in self.problems if p.blocking]

    @property
    def notices(self) -> list[ManifestProblem]:
        return [p for p in self.problems if not p.blocking]


def parse_manifest(path: Path, series: str | None = None) -> ParsedManifest:
    """Read and judge one manifest; ``series`` enables the version rule."""

    def invalid(message: str, line: int | None = None) -> ParsedManifest:
        return ParsedManifest(None, [ManifestProblem("manifest_invalid", path, line, message)])

    try:
        raw = read_bytes(path, "manifest", max_bytes=MAX_MANIFEST_BYTES)
    except IpaiError as exc:
        return invalid(exc.message.removeprefix(f"{path}: "))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return invalid(f"not UTF-8 (byte {exc.start})", raw.count(b"\n", 0, exc.start) + 1)
    try:
        module = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        problem = ManifestProblem("manifest_syntax_error", path, exc.lineno, exc.msg or "")
        return ParsedManifest(None, [problem])
    statements = [s for s in module.body if not _is_docstring(s)]
    if (
        len(statements) != 1
        or not isinstance(statements[0], ast.Expr)
        or not isinstance(statements[0].value, ast.Dict)
    ):
        line = statements[0].lineno if statements else 1
        return invalid("not a single dict literal", line)
    node = statements[0].value
    try:
        data = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        bad = _first_non_literal(node)
        return invalid(
            f"not a literal value ({type(exc).__name__}): Odoo's literal_eval refuses it",
            bad or node.lineno,
        )
    lines = {
        key.value: key.lineno
        for key in node.keys
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }
    for key in data:
        if not isinstance(key, str):
            return invalid(f"key {key!r} is not a string")
    problems = [
        ManifestProblem(klass, path, lines.get(key), message, blocking)
        for klass, key, message, blocking in judge(data, series)
    ]
    return ParsedManifest(data, problems)


def judge(data: dict[str, Any], series: str | None) -> list[tuple[str, str, str, bool]]:
    """(error class, key, message, blocking) for each rule the manifest breaks."""
    found: list[tuple[str, str, str, bool]] = []
    depends = data.get("depends", [])
    depends_ok = isinstance(depends, list | tuple) and all(isinstance(d, str) for d in depends)
    if not depends_ok:
        shown = ", ".join(repr(c) for c in depends) if isinstance(depends, str) else ""
        why = (
            f"a string: Odoo reads it as the dependencies {shown} and the install fails"
            if isinstance(depends, str)
            else "not a list of module names: the install fails"
        )
        found.append(("depends_not_list", "depends", f"'depends' is {why}", True))
    auto = data.get("auto_install", False)
    if depends_ok and isinstance(auto, str | list | tuple | set | frozenset):
        strays = sorted(str(t) for t in set(auto) - set(depends))
        if strays:
            found.append(
                (
                    "auto_install_not_in_depends",
                    "auto_install",
                    f"auto_install triggers {strays} are not in depends: Odoo's loader raises "
                    "on it, which fails creating any new database with this addon on the path",
                    True,
                )
            )
    installable = bool(data.get("installable", True))
    version = data.get("version", "1.0")
    if installable and series is not None and (bad := version_problem(version, series)):
        found.append(
            (
                "version_invalid",
                "version",
                f"{bad}: Odoo ignores the addon on an existing database ('invalid module names') "
                "and fails creating a new one",
                True,
            )
        )
    license_ = data.get("license")
    if license_ and license_ not in ODOO_LICENSES:
        found.append(
            (
                "license_invalid",
                "license",
                f"license {license_!r} is not one of Odoo's: with this addon on the path every "
                "-i and -u of the database fails ('Wrong value for ir.module.module.license')",
                True,
            )
        )
    for key in _FILE_LIST_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            found.append(
                (
                    "manifest_invalid",
                    key,
                    f"'{key}' must be a list of file names: the install fails",
                    True,
                )
            )
    found += _notices(data, license_, installable)
    return found


def _notices(
    data: dict[str, Any], license_: Any, installable: bool
) -> list[tuple[str, str, str, bool]]:
    found: list[tuple[str, str, str, bool]] = []
    if not license_:
        found.append(
            ("license_missing", "license", "no license: Odoo warns and assumes LGPL-3", False)
        )
    for key in _TEXT_KEYS:
        if isinstance(data.get(key), list | tuple):
            found.append(
                (
                    "manifest_list_as_text",
                    key,
                    f"'{key}' is a list: Odoo stores its Python text ({list(data[key])!s})",
                    False,
                )
            )
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        found.append(("name_missing", "name", "no name: Odoo shows an empty title", False))
    if not installable:
        found.append(
            (
                "not_installable",
                "installable",
                "'installable' is False: '-i' of it does nothing and says nothing",
                False,
            )
        )
    return found


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _first_non_literal(node: ast.AST) -> int | None:
    allowed = (
        ast.Constant,
        ast.Dict,
        ast.List,
        ast.Tuple,
        ast.Set,
        ast.UnaryOp,
        ast.BinOp,
        ast.USub,
        ast.UAdd,
        ast.Add,
        ast.Sub,
        ast.expr_context,
    )
    for child in ast.walk(node):
        if not isinstance(child, allowed):
            return getattr(child, "lineno", None)
    return None
