"""Validate documents against the JSON Schemas in ``schemas/`` and explain failures in one line.

Messages name the key path and what is wrong, never the offending value: a user who pasted a
password where a variable name belongs must not see it echoed into a CI log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from ..core.errors import IpaiError
from .resources import schemas_dir

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

# jsonschema is imported on first validation only: xdist workers, which trust the config the
# controller validated, never pay for it.

_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    loaded = {}
    for path in sorted(schemas_dir().glob("*.schema.json")):
        try:
            loaded[path.name.removesuffix(".schema.json")] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise IpaiError(f"{path}: cannot load schema: {exc}") from None
    return loaded


@cache
def _registry() -> Registry[Any]:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in _schemas().values()
    ]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator for ``schemas/<name>.schema.json`` (cross-file $refs resolve)."""
    from jsonschema import Draft202012Validator

    schema = _schemas().get(name)
    if schema is None:
        raise IpaiError(f"installation is incomplete: schema {name}.schema.json not found")
    # The schemas ship with the package and are checked against the meta-schema by the test
    # suite (tests/test_schemas.py): checking them again on every run cost 0.1 s per process.
    return Draft202012Validator(inline_local_refs(schema, schema), registry=_registry())


def inline_local_refs(node: Any, root: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with each bare ``{"$ref": "#/..."}`` replaced by what it points to in ``root``:
    jsonschema resolves a reference (URL joins, a registry lookup) every time it meets one, which
    made a policy of hundreds of gates slow to check. References to other files, references
    with sibling keywords and recursive ones stay as they are; ``$defs`` stays for them."""
    if isinstance(node, list):
        return [inline_local_refs(item, root, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
        target: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                return node  # left for jsonschema to report
            target = target[part]
        return inline_local_refs(target, root, (*seen, ref))
    return {
        key: value if key == "$defs" else inline_local_refs(value, root, seen)
        for key, value in node.items()
    }


def key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_RANGES = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
}


def describe(error: ValidationError) -> str:
    """``key.path: what is wrong`` without echoing the value."""
    from jsonschema.exceptions import best_match

    if error.validator in ("oneOf", "anyOf") and error.context:
        # Name the problem of the branch that came closest (e.g. the bad SHA), not "oneOf".
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        closest = min(branches.values(), key=lambda errs: (len(errs), -len(errs[0].path)))
        return describe(best_match(closest))
    path = list(error.absolute_path)
    kind = error.validator
    instance: Any = error.instance
    schema: Any = error.schema
    value: Any = error.validator_value
    if kind == "additionalProperties":
        extra = sorted(set(instance) - set(schema.get("properties", {})))
        if extra:
            path.append(extra[0])
        return f"{key_path(path)}: unknown key"
    if kind == "required":
        missing = [k for k in value if k not in instance]
        if missing:
            path.append(missing[0])
        return f"{key_path(path)}: required key is missing"
    if kind == "type":
        expected = value
        expected_text = " or ".join(expected) if isinstance(expected, list) else expected
        got = _TYPE_NAMES.get(type(instance), type(instance).__name__)
        return f"{key_path(path)}: expected {expected_text}, got {got}"
    if kind == "enum":
        choices = ", ".join(str(c) for c in value)
        return f"{key_path(path)}: must be one of {choices}"
    if kind == "pattern":
        hint = schema.get("description", f"pattern {value}")
        return f"{key_path(path)}: does not match {hint}"
    if kind in _RANGES:
        return f"{key_path(path)}: must be {_RANGES[kind]} {value}"
    if kind in {"minItems", "minLength"}:
        return f"{key_path(path)}: must not be empty"
    if kind == "uniqueItems":
        return f"{key_path(path)}: items must be unique"
    if kind == "format":
        return f"{key_path(path)}: not a valid {value}"
    if kind == "const":
        return f"{key_path(path)}: must be {value!r}"
    return f"{key_path(path)}: {kind} constraint not met"


def problems(instance: Any, name: str) -> list[str]:
    """Every schema violation, one line each, in document order."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(map(str, e.path)))
    return [describe(e) for e in errors]


def first_problem(instance: Any, name: str) -> str | None:
    from jsonschema.exceptions import best_match

    error = best_match(validator(name).iter_errors(instance))
    return None if error is None else describe(error)
