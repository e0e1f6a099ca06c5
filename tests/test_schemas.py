"""The JSON Schemas the package ships are valid under their meta-schema (the library trusts them
at run time and does not check them again), and each cross-file reference resolves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pytest_ipai.config.resources import schemas_dir
from pytest_ipai.config.schema import validator

SCHEMAS = sorted(schemas_dir().glob("*.schema.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_shipped_schema_is_valid(path: Path) -> None:
    schema = json.loads(path.read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    # Building the validator and validating an empty document follows the $refs it meets.
    list(validator(path.name.removesuffix(".schema.json")).iter_errors({}))


def test_there_are_schemas() -> None:
    assert len(SCHEMAS) >= 15
