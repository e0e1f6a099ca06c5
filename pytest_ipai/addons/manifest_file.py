"""Parse an addon's ``__manifest__.py`` the safe way: ``ast`` and ``literal_eval``, never import.

A problem is returned, not raised, with the error class the manifests gate reports and the
file:line it points at.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.paths import rel

MAX_MANIFEST_BYTES = 1024 * 1024

# Keys Odoo reads, with the types it expects. Unknown keys are allowed (Odoo ignores them).
_STR_KEYS = (
    "name",
    "version",
    "license",
    "summary",
    "description",
    "author",
    "website",
    "category",
    "maintainer",
    "countries",
)
_BOOL_KEYS = ("installable", "application")
_STR_LIST_KEYS = ("depends", "data", "demo", "qweb", "excludes", "maintainers", "images")


@dataclass(frozen=True)
class ManifestProblem:
    error_class: str  # manifest_syntax_error | manifest_invalid | addon_not_package
    file: Path
    line: int | None
    message: str

    def where(self, base: Path | None = None) -> str:
        name = rel(self.file, base) if base is not None else str(self.file)
        return f"{name}:{self.line}" if self.line else name


def parse_manifest(path: Path) -> dict[str, Any] | ManifestProblem:
    def invalid(message: str, line: int | None = None) -> ManifestProblem:
        return ManifestProblem("manifest_invalid", path, line, message)

    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            return invalid(f"{size} bytes: larger than a manifest can sensibly be (1 MiB)")
        raw = path.read_bytes()
    except OSError as exc:
        return invalid(f"cannot read: {exc.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return invalid(f"not UTF-8 (byte {exc.start})", raw.count(b"\n", 0, exc.start) + 1)
    try:
        module = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        return ManifestProblem("manifest_syntax_error", path, exc.lineno, exc.msg)
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
        return invalid(f"not a literal value ({type(exc).__name__})", bad or node.lineno)
    lines = {
        key.value: key.lineno
        for key in node.keys
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }
    problem = _check_types(data, lines)
    if problem is not None:
        message, key = problem
        return invalid(message, lines.get(key))
    manifest: dict[str, Any] = data
    return manifest


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


def _check_types(data: dict[Any, Any], lines: dict[str, int]) -> tuple[str, str] | None:
    for key in data:
        if not isinstance(key, str):
            return f"key {key!r} is not a string", ""
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        return "key 'name' is missing or not a non-empty string", "name"
    for key in _STR_KEYS:
        if key in data and not isinstance(data[key], str) and key != "countries":
            return f"key '{key}' must be a string", key
    for key in _BOOL_KEYS:
        if key in data and not isinstance(data[key], bool):
            return f"key '{key}' must be True or False", key
    for key in _STR_LIST_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return f"key '{key}' must be a list of strings", key
    auto = data.get("auto_install", False)
    if not isinstance(auto, bool) and not (
        isinstance(auto, list | tuple) and all(isinstance(v, str) for v in auto)
    ):
        return "key 'auto_install' must be True, False or a list of module names", "auto_install"
    return None
