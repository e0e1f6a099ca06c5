"""How ``ipai`` behaves as a command: a reader that closes early, tools checked before any gate
runs, the table's message lines, and what ``--help`` and ``ipai gate`` load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import IPAI, by_gate, demo_build, load, only_pack, run_ipai, set_env_keys
from ipai_ops.gate import MESSAGE_LINES, MESSAGE_WIDTH, message_lines, table

HEAVY = ("psycopg", "docker", "fastapi", "uvicorn", "securesystemslib", "cryptography")


def test_a_reader_that_closes_early_gets_no_traceback_and_the_pack_is_whole(
    demo_stack: Path,
) -> None:
    # As in `ipai gate predeploy | head -2`: read two lines, then close the pipe.
    proc = subprocess.Popen(
        [*IPAI, "gate", "predeploy", "--config", str(demo_stack / "ipai.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, stderr
    assert all(first), first
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    pack = only_pack(demo_stack / "evidence")
    results = load(pack)
    assert results["exit_code"] == 0
    assert results["summary"]["pass"] == len(results["results"]) == 12
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0


def test_report_without_allure_stops_before_any_gate(demo_stack: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path), IPAI_ALLURE=str(tmp_path / "no-allure"))
    proc = subprocess.run(
        [*IPAI, "gate", "predeploy", "--config", str(demo_stack / "ipai.toml"), "--report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "allure" in proc.stderr.lower(), proc.stderr
    assert "GATE" not in proc.stdout
    assert not (demo_stack / "evidence").exists()  # not one gate ran


def test_postdeploy_without_its_engine_stops_before_any_gate(
    demo_stack: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no-engine.sock"
    set_env_keys(
        demo_stack,
        services={"odoo": "odoo"},
        engine_socket=f"unix://{missing}",
        base_url="http://127.0.0.1:9",
    )
    proc = run_ipai("gate", "postdeploy", "--config", str(demo_stack / "ipai.toml"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line
    assert line.startswith("ipai: error: environments.dev.engine_socket: engine socket")
    assert (
        "net.no_public_ports, runtime.code_current, runtime.workers need the container engine"
        in line
    )
    assert not (demo_stack / "evidence").exists()


def test_the_table_shows_where_each_failure_is(tmp_path: Path) -> None:
    stack = demo_build.build(tmp_path / "broken", broken=True)
    proc = run_ipai("gate", "predeploy", "--config", str(stack / "ipai.toml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("addons.manifests_valid"))
    under = lines[row + 1]
    assert under.startswith("    ") and "ipai_broken_manifest/__manifest__.py:" in under
    message = by_gate(only_pack(stack / "evidence"))["addons.manifests_valid"]["message"]
    assert under.strip() == message_lines(message)[0]


def test_table_message_lines_are_wrapped_capped_and_redacted(tmp_path: Path) -> None:
    secret = "s3cr3t-Value-91"
    findings = "; ".join(f"addons/x/m{i}/__manifest__.py:{i}: invalid" for i in range(12))
    message = f"db password {secret} in odoo.conf:4\n{findings}\nthird\nfourth"
    result = {
        "gate_id": "odoo_conf.safe",
        "status": "fail",
        "error_class": "master_password_weak",
        "duration": 0.1,
        "message": message,
    }
    passed = {**result, "gate_id": "git.clean", "status": "pass", "error_class": None}
    (tmp_path / "results.json").write_text(
        json.dumps({"results": [result, passed], "summary": {"fail": 1, "pass": 1}})
    )
    lines = table(tmp_path, [secret]).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("odoo_conf.safe"))
    under = [line.strip() for line in lines[row + 1 : row + 2 + MESSAGE_LINES]]
    assert secret not in "\n".join(lines)
    assert under[0].startswith("db password ") and under[0].endswith("in odoo.conf:4")
    # A long line is wrapped at a word, not cut: the findings read on.
    assert under[1].startswith("addons/x/m0/__manifest__.py:0: invalid;")
    assert all(len(line) <= MESSAGE_WIDTH for line in under)
    assert " ".join(under[1:MESSAGE_LINES]) in findings
    assert under[MESSAGE_LINES] == "(the rest is in results.json)"
    passed_row = next(i for i, line in enumerate(lines) if line.startswith("git.clean"))
    assert lines[passed_row + 1] == lines[row]  # a passing row has nothing under it


def loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('LOADED', *(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()[-1].split()[1:]


HELP = "from ipai_ops.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"


def test_help_and_the_gate_command_load_no_heavy_module() -> None:
    assert loaded_after(HELP) == []
    assert loaded_after("import ipai_ops.cli, ipai_ops.gate, ipai_ops.report") == []


def test_the_pre_deploy_suite_loads_no_heavy_module() -> None:
    checks = Path(__file__).resolve().parent.parent / "checks"
    modules = sorted(p.stem for p in checks.glob("gate_*.py"))
    imports = "\n".join(f"import ipai_checks.{name}" for name in modules)
    assert loaded_after(f"import pytest_ipai.plugin\n{imports}") == []


def test_the_parser_alone_loads_nothing_of_the_library() -> None:
    """``ipai --help`` (and the parsing every command starts with) imports the errors module
    of the library and nothing else: each command imports its own needs when it runs."""
    probe = f"import sys\n{HELP}\nprint('LOADED', *sorted(m for m in sys.modules if m.startswith(('pytest_ipai.', 'jsonschema', 'tomllib'))))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].split()[1:] == [
        "pytest_ipai.core",
        "pytest_ipai.core.errors",
    ]
