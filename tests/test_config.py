"""Bad configurations: exit 2, one line naming the file, key path and problem; no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_ipai

from pytest_ipai.config.stack import load_config
from pytest_ipai.core.errors import ConfigError

GOOD = """
[stack]
addons_manifest = "addons.json"
default_env = "prod"

[environments.prod]
base_url = "http://127.0.0.1:8069"
workers = 4
"""

CASES = {
    "toml-syntax": (
        '[stack\naddons_manifest = "a.json"\n',
        "invalid TOML: * (at line 1, column 7)",
    ),
    "unknown-key": (
        GOOD.replace("workers = 4", "wrokers = 4"),
        "environments.prod.wrokers: unknown key",
    ),
    "wrong-type": (
        GOOD.replace("workers = 4", 'workers = "four"'),
        "environments.prod.workers: expected integer, got string",
    ),
    "missing-required": (
        GOOD.replace('addons_manifest = "addons.json"', ""),
        "stack.addons_manifest: required key is missing",
    ),
    "no-environments": (
        '[stack]\naddons_manifest = "a.json"\n',
        "environments: required key is missing",
    ),
    "bad-env-name": (
        GOOD.replace("[environments.prod]", "[environments.Prod]").replace(
            'default_env = "prod"', ""
        ),
        "environments: *",
    ),
    "unknown-default-env": (
        GOOD.replace('default_env = "prod"', 'default_env = "stage"'),
        "environments.stage: no such environment (prod)",
    ),
    "url-with-credentials": (
        GOOD.replace("http://127.0.0.1:8069", "http://admin:Hunter2Secret@127.0.0.1:8069"),
        "environments.prod.base_url: does not match an http(s) URL without credentials",
    ),
    "bad-port-allowlist": (
        GOOD + 'port_allowlist = ["8069"]\n',
        "environments.prod.port_allowlist[0]: does not match [tcp:|udp:]ADDRESS[/PREFIX]:PORT*",
    ),
    "bad-policy-file": (GOOD + 'policy = "missing.toml"\n', "*missing.toml: policy file not found"),
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ipai.toml"
    path.write_text(text)
    (tmp_path / "addons.json").write_text('{"version": 1, "oca_repositories": []}')
    return path


def contains_in_order(text: str, parts: list[str]) -> bool:
    position = 0
    for part in parts:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_ipai_gate_rejects_bad_config(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    path = write(tmp_path, text)
    proc = run_ipai("gate", "predeploy", "--config", str(path))
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith("ipai: error: ")
    assert contains_in_order(line, expected.split("*")), line
    if case != "bad-policy-file":
        assert str(path) in line
    assert "Hunter2Secret" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("case", ["unknown-key", "wrong-type", "toml-syntax"])
def test_pytest_rejects_bad_config_with_exit_2(tmp_path: Path, case: str) -> None:
    text, _expected = CASES[case]
    path = write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--ipai-config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith(f"Exit: ipai: {path}: ")


def test_missing_config_file(tmp_path: Path) -> None:
    proc = run_ipai("gate", "predeploy", "--config", str(tmp_path / "nope.toml"))
    assert proc.returncode == 2
    assert one_line(proc.stderr) == f"ipai: error: {tmp_path / 'nope.toml'}: config file not found"


def test_pyproject_tool_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n[tool.ipai.stack]\naddons_manifest = 'a.json'\n"
        "[tool.ipai.environments.dev]\nworkers = 'x'\n"
    )
    with pytest.raises(
        ConfigError, match=r"pyproject.toml: tool\.ipai\.environments\.dev\.workers"
    ):
        load_config(tmp_path / "pyproject.toml")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"no \[tool\.ipai\] table"):
        load_config(tmp_path / "pyproject.toml")


def test_environment_selection(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('default_env = "prod"', "") + "[environments.dev]\n")
    with pytest.raises(ConfigError, match=r"stack\.default_env: not set; choose one of dev, prod"):
        load_config(path)
    config = load_config(path, "dev")
    assert config.env.name == "dev"
    assert config.env.evidence_root == tmp_path / "evidence"


def test_bad_cli_usage_exits_2() -> None:
    proc = run_ipai("gate")
    assert proc.returncode == 2
    assert one_line(proc.stderr).startswith("ipai: error: ")
    proc = run_ipai("gate", "predeploy", "--workers", "-1", "--config", "x.toml")
    assert proc.returncode == 2
    proc = run_ipai("gate", "predeploy", "-n", "10000", "--config", "x.toml")
    assert (proc.returncode, proc.stderr) == (
        2,
        "ipai: error: --workers: must be 0 (no xdist worker) to 64\n",
    )
