"""The JSON Schemas and the gate policy the package ships are valid (the library trusts them at
run time and does not check them again), and each cross-file reference resolves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pytest_ipai.config.policy import load_policy
from pytest_ipai.config.resources import gates_dir, schemas_dir
from pytest_ipai.config.schema import first_problem, validator
from pytest_ipai.core.textfile import read_toml

SCHEMAS = sorted(schemas_dir().glob("*.schema.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_shipped_schema_is_valid(path: Path) -> None:
    schema = json.loads(path.read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    # Building the validator and validating an empty document follows the $refs it meets.
    list(validator(path.name.removesuffix(".schema.json")).iter_errors({}))


def test_there_are_schemas() -> None:
    assert len(SCHEMAS) >= 15


@pytest.mark.parametrize("path", sorted(gates_dir().glob("*.toml")), ids=lambda p: p.name)
def test_the_packaged_policy_is_valid(path: Path) -> None:
    """The bundled gates/*.toml are not validated on every run: here they are."""
    schema = "decision-policy" if path.name == "decision.toml" else "policy"
    data = read_toml(path, "policy file", ValueError)
    if schema == "decision-policy":
        data = data.get("decision", data)
    assert first_problem(data, schema) is None
    assert load_policy(bundled=gates_dir()).gates  # and loads with validation on
