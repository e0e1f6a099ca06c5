"""Validate documents against the JSON Schemas in ``schemas/`` and explain failures in one line.

Messages name the key path and what is wrong, never the offending value: a user who pasted a
password where a variable name belongs must not see it echoed into a CI log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import IpaiError
from ..core.usercache import cache_dir, read_entry, write_entry
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
    """The first violation, or None. A document already found valid against the very same
    schemas is not validated again (``valid_cache``): a run then never imports jsonschema."""
    key = _validity_key(instance, name)
    if key is not None and _known_valid(key):
        return None
    from jsonschema.exceptions import best_match

    error = best_match(validator(name).iter_errors(instance))
    if error is not None:
        return describe(error)  # only validity is remembered, never a failure
    if key is not None:
        _remember_valid(key)
    return None


def valid_cache() -> Path | None:
    """Where validity is remembered: the user cache's ``valid`` folder (core/usercache.py)."""
    return cache_dir("valid")


@cache
def _schemas_digest() -> bytes:
    """The shipped schemas, byte for byte: a changed schema is a new key for every document."""
    digest = hashlib.sha256()
    for path in sorted(schemas_dir().glob("*.schema.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.digest()


def _validity_key(instance: Any, name: str) -> str | None:
    folder = valid_cache()
    if folder is None:
        return None
    try:
        # repr, not JSON: it tells a TOML date from the same text in a string, 1 from 1.0
        # and True, so two documents share a key only when they are the same document.
        text = repr(instance).encode("utf-8", "surrogatepass")
    except (RecursionError, ValueError):
        return None
    digest = hashlib.sha256(_schemas_digest() + name.encode() + b"\0" + text).hexdigest()
    return digest


def _known_valid(key: str) -> bool:
    return read_entry("valid", key) is not None


def _remember_valid(key: str) -> None:
    """Best effort: a cache that cannot be written costs a validation next time, no more."""
    write_entry("valid", key, b"")
