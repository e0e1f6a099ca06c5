"""The JSON Schemas and the gate policy the package ships are valid (the library trusts them at
run time and does not check them again), and each cross-file reference resolves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _probe(cache: Path, document: str) -> list[str]:
    """first_problem in a fresh process: its answer, and whether jsonschema was imported."""
    code = (
        "import datetime, sys\n"
        "from pytest_ipai.config.schema import first_problem\n"
        f"print(first_problem({document}, 'config'))\n"
        "print('jsonschema' in sys.modules)\n"
    )
    return _python(code, str(cache))


def _python(code: str, cache: str) -> list[str]:
    """The lines a fresh interpreter prints, with this validity cache setting."""
    env = {**os.environ, "IPAI_CACHE_DIR": cache}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return proc.stdout.splitlines()


VALID = "{'stack': {'addons_manifest': 'm.json'}, 'environments': {'dev': {}}}"
INVALID = "{'stack': {'addons_manifest': 'm.json', 'series': 18}, 'environments': {'dev': {}}}"


def test_a_document_found_valid_is_not_validated_again(tmp_path: Path) -> None:
    assert _probe(tmp_path, VALID) == ["None", "True"]
    assert len(list((tmp_path / "valid").iterdir())) == 1
    assert _probe(tmp_path, VALID) == ["None", "False"]  # remembered: jsonschema never loaded


def test_a_failure_is_never_remembered(tmp_path: Path) -> None:
    for _ in range(2):
        assert _probe(tmp_path, INVALID) == ["stack.series: expected string, got integer", "True"]
    assert not (tmp_path / "valid").exists()


def test_the_key_tells_apart_what_json_would_not(tmp_path: Path) -> None:
    date = "{'stack': {'addons_manifest': datetime.date(2026, 1, 1)}, 'environments': {'dev': {}}}"
    assert _probe(tmp_path, date)[0] == "stack.addons_manifest: expected string, got date"
    text = "{'stack': {'addons_manifest': '2026-01-01'}, 'environments': {'dev': {}}}"
    assert _probe(tmp_path, text) == ["None", "True"]
    assert _probe(tmp_path, date)[0] == "stack.addons_manifest: expected string, got date"


def test_an_empty_cache_setting_turns_it_off() -> None:
    code = "from pytest_ipai.config.schema import valid_cache; print(valid_cache())"
    assert _python(code, "") == ["None"]
