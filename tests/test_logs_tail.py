"""ipai logs tail on a log file: the last N lines exactly, read from the end, redacted, and
clear refusals. (The container source is exercised through hostd's tail_logs action.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import run_ipai, set_env_keys

SECRET = "pg-s3cret-in-the-log-77"
LINE = "2026-12-03 07:00:{:02d},000 1 INFO demo odoo.modules.loading: line {} {}\n"


def tail(stack: Path, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ, DEMO_DSN=f"postgresql://odoo:{SECRET}@127.0.0.1/demo")
    proc = run_ipai("logs", "tail", "--config", str(stack / "ipai.toml"), *args, env=env)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def logged(demo_stack: Path) -> Path:
    # Long lines: the last ones span several of the 64 KiB blocks it reads backwards.
    with (demo_stack / "odoo.log").open("w") as log:
        for n in range(3000):
            log.write(LINE.format(n % 60, n, ("x" * 300) + (SECRET if n % 2 else "")))
    set_env_keys(demo_stack, log_source={"file": "odoo.log"})
    return demo_stack


def test_the_last_lines_exactly_and_redacted(logged: Path) -> None:
    code, out, err = tail(logged, "--lines", "500")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 500
    assert lines[0].split(": line ")[1].startswith("2500 ") and "line 2999 " in lines[-1]
    assert SECRET not in out + err and "[REDACTED]" in lines[-1]


def test_a_short_log_without_a_final_newline(logged: Path) -> None:
    (logged / "odoo.log").write_text("first\nsecond")
    code, out, _ = tail(logged, "--lines", "5")
    assert (code, out) == (0, "first\nsecond\n")


@pytest.mark.parametrize("lines", ["0", "1001"])
def test_the_bound_is_enforced(logged: Path, lines: str) -> None:
    code, out, err = tail(logged, "--lines", lines)
    assert code == 2 and out == ""
    assert "--lines: between 1 and 1000" in err


def test_refusals_name_what_is_missing(logged: Path) -> None:
    (logged / "odoo.log").unlink()
    code, _, err = tail(logged)
    assert code == 2 and f"{logged / 'odoo.log'}: cannot read" in err
    set_env_keys(logged, log_source=None)
    code, _, err = tail(logged)
    assert code == 2 and "environments.dev.log_source: not set" in err
