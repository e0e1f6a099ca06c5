"""Every bundled gate's params are typed: a typo that would silently disable a gate (a string
where a list belongs, nan for a timeout, a misspelt key) is refused with the file, gate and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_ipai

from pytest_ipai.config.policy import load_policy
from pytest_ipai.core.errors import ConfigError

CASES = [
    # a string where a list belongs: list("fixtures/*") held "*", which exempted every file
    (
        '[gates."secrets.none_committed"]\nparams = { ignore_paths = "fixtures/*" }',
        "gates.secrets.none_committed.params.ignore_paths: expected array, got string",
    ),
    # nan passes every range and turned pytest-timeout off
    ('[gates."http.health"]\ntimeout = nan', "gates.http.health.timeout: must be a finite number"),
    (
        '[gates."runtime.workers"]\nparams = { window = inf }',
        "gates.runtime.workers.params.window: must be a finite number",
    ),
    (
        '[gates."http.health"]\nparams = { retrys = 3 }',
        "gates.http.health.params.retrys: unknown key",
    ),
    (
        '[gates."http.error_rate"]\nparams = { max_rate = 5 }',
        "gates.http.error_rate.params.max_rate: must be at most 1",
    ),
    (
        '[gates."runtime.workers"]\nparams = { samples = 1 }',
        "gates.runtime.workers.params.samples: must be at least 2",
    ),
    (
        '[gates."net.no_public_ports"]\nparams = { scope = "everything" }',
        "gates.net.no_public_ports.params.scope: must be one of stack, host",
    ),
    (
        '[gates."git.clean"]\nparams = { strict = true }',
        "gates.git.clean.params.strict: unknown key",
    ),
    ('[gates."http.health"]\ntimeout = 0', "gates.http.health.timeout: must be greater than 0"),
]


@pytest.mark.parametrize(("text", "problem"), CASES)
def test_mistyped_policy_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert caught.value.message == f"{path}: {problem}"


def test_every_bundled_gate_has_typed_params() -> None:
    schema = json.loads((ROOT / "schemas" / "policy.schema.json").read_text())
    typed = set(schema["properties"]["gates"]["properties"])
    assert set(load_policy().gates) <= typed


def test_a_gate_of_your_own_takes_any_params(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[gates."acme.invoices_numbered"]\nsuite = "postdeploy"\nparams = { max_gap = 0 }\n'
    )
    assert load_policy(path).gates["acme.invoices_numbered"].params == {"max_gap": 0}


def test_the_cli_refuses_before_any_gate(demo_stack: Path) -> None:
    policy = demo_stack / "typo.toml"
    policy.write_text('[gates."secrets.none_committed"]\nparams = { ignore_paths = "*" }\n')
    config = demo_stack / "ipai.toml"
    config.write_text(
        config.read_text().replace(
            "[environments.dev]\n", '[environments.dev]\npolicy = "typo.toml"\n'
        )
    )
    proc = run_ipai("gate", "predeploy", "--config", str(config))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        f"ipai: error: {policy}: gates.secrets.none_committed.params.ignore_paths: expected array,"
        " got string\n"
    )
    assert not (demo_stack / "evidence").exists()
