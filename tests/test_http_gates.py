"""http.health against the Odoo stand-in on loopback: healthy, down, hanging, database
unreachable, not Odoo, no database selected."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from conftest import postdeploy


def health(stack: Path) -> dict[str, Any]:
    return postdeploy(stack)["http.health"]


def test_healthy_standin_passes(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    standin()
    result = health(stack)
    assert result["status"] == "pass", result["message"]
    assert [a["outcome"] for a in result["attempts"]] == ["ok"]
    assert {b["name"] for b in result["blobs"]} == {
        "health attempt 1",
        "GET /web/login",
        "POST /web/webclient/version_info",
    }


def test_database_down_fails_after_three_attempts(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    standin(dsn="postgresql://postgres@127.0.0.1:1/none")
    result = health(stack)
    assert (result["status"], result["error_class"]) == ("fail", "health_failed")
    assert [a["outcome"] for a in result["attempts"]] == ["failed"] * 3
    assert 'HTTP 500 {"status": "fail", "db_server_status": false}' in result["message"]


def test_stack_down_is_decided_within_the_retry_budget(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    server = standin()
    server.stop()  # nothing listens any more
    started = time.monotonic()
    result = health(stack)
    assert (result["status"], result["error_class"]) == ("fail", "health_failed")
    assert "connection failed" in result["message"]
    assert result["duration"] < 1.5 + 0.5 + 1.0  # backoff 0.5 + 1.0, plus one second
    assert time.monotonic() - started < 60


def test_hanging_server_times_out_each_attempt(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    policy = stack / "prod-policy.toml"
    policy.write_text(
        '[gates."http.health"]\nparams = { retries = 2, timeout = 1, backoff = 0.1 }\n'
    )
    config = stack / "ipai.toml"
    config.write_text(
        config.read_text().replace(
            'evidence_root = "evidence"\n', f'evidence_root = "evidence"\npolicy = "{policy}"\n', 1
        )
    )
    standin("--hang", "30")
    result = health(stack)
    assert (result["status"], result["error_class"]) == ("fail", "health_failed")
    assert [a["outcome"] for a in result["attempts"]] == ["timeout", "timeout"]
    assert result["duration"] < 10


def test_not_odoo_and_no_database_selected(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    standin("--not-odoo")
    result = health(stack)
    assert (result["status"], result["error_class"]) == ("fail", "not_odoo_response")
    assert "Server: nginx" in result["message"]
    standin("--no-db-selected")
    result = health(stack)
    assert (result["status"], result["error_class"]) == ("fail", "db_not_selected")
    assert "/web/database/selector" in result["message"]
