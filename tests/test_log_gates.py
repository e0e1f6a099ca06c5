"""logs.no_errors and http.error_rate on the stand-in's Odoo-format log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
from conftest import postdeploy
from inotify_reads import ReadCounter


def configure(stack: Path, log: Path, policy: str = "") -> None:
    config = stack / "ipai.toml"
    text = config.read_text()
    extra = f'log_source = {{ file = "{log}" }}\n'
    if policy:
        (stack / "post-policy.toml").write_text(policy)
        extra += f'policy = "{stack / "post-policy.toml"}"\n'
    config.write_text(
        text.replace('evidence_root = "evidence"\n', 'evidence_root = "evidence"\n' + extra, 1)
    )


def traffic(url: str, count: int) -> None:
    with requests.Session() as session:
        for _ in range(count):
            session.get(f"{url}/web/login", timeout=5)


def gates(stack: Path, since: str | None) -> dict[str, dict[str, Any]]:
    return postdeploy(stack, *(["--", "--ipai-since", since] if since else []))


def now_minus(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - seconds))


def test_clean_log_passes_and_few_requests_are_inconclusive(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    since = now_minus(1)
    server = standin()
    configure(stack, server.log)
    traffic(server.url, 5)
    results = gates(stack, since)
    assert results["logs.no_errors"]["status"] == "pass"
    rate = results["http.error_rate"]
    assert (rate["status"], rate["error_class"]) == ("inconclusive", "inconclusive")
    assert "fewer than min_samples 20" in rate["message"]
    traffic(server.url, 30)
    results = gates(stack, since)
    assert results["http.error_rate"]["status"] == "pass"
    assert results["http.error_rate"]["measurements"]["errors_5xx"] == 0
    assert results["http.error_rate"]["measurements"]["excluded"] >= 1  # health checks do not count


def test_tracebacks_fail_the_log_gate(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    since = now_minus(1)
    server = standin("--traceback-every", "4")
    configure(stack, server.log)
    traffic(server.url, 12)
    result = gates(stack, since)["logs.no_errors"]
    assert (result["status"], result["error_class"]) == ("fail", "log_error")
    assert "ERROR/CRITICAL record(s) since" in result["message"]
    assert "odoo.http: Exception during request handling." in result["message"]
    assert "ValueError: Invalid field 'x_field'" in result["message"]
    assert result["measurements"]["errors"] >= 3
    # Errors before the deploy started are not this deploy's.
    later = gates(stack, now_minus(-60))["logs.no_errors"]
    assert later["status"] == "pass" and later["measurements"]["before_deploy"] >= 3


def test_known_noise_with_owner_and_expiry(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    since = now_minus(1)
    server = standin("--traceback-every", "2")
    noise = '[gates."logs.no_errors"]\nparams = {{ ignore = [{{ pattern = "^odoo\\\\.http: Exception", owner = "ops@example.invalid", expires = "{}" }}] }}\n'
    configure(stack, server.log, noise.format("2999-12-31"))
    traffic(server.url, 6)
    assert gates(stack, since)["logs.no_errors"]["status"] == "pass"
    (stack / "post-policy.toml").write_text(noise.format("2020-01-01"))
    result = gates(stack, since)["logs.no_errors"]
    assert result["error_class"] == "log_error"
    assert result["measurements"]["expired_ignores"][0].endswith("expired 2020-01-01)")


def test_error_rate_exceeded(stack_db: Any, standin: Any) -> None:
    stack, _ = stack_db
    since = now_minus(1)
    server = standin("--error-share", "0.5")
    configure(stack, server.log)
    traffic(server.url, 40)
    result = gates(stack, since)["http.error_rate"]
    assert (result["status"], result["error_class"]) == ("fail", "error_rate_exceeded")
    assert "requests answered 5xx" in result["message"] and "limit 5%" in result["message"]


def test_unusable_sources_are_errors(stack_db: Any, tmp_path: Path) -> None:
    stack, _ = stack_db
    log = tmp_path / "odoo.log"
    log.write_text("")
    configure(stack, log)
    since = now_minus(60)
    results = gates(stack, since)
    for gate_id in ("logs.no_errors", "http.error_rate"):
        assert (results[gate_id]["status"], results[gate_id]["error_class"]) == (
            "error",
            "log_source_unavailable",
        )
    log.write_bytes(b"\x00\x01garbage\n" * 100)
    assert "no Odoo log record" in gates(stack, since)["logs.no_errors"]["message"]
    log.unlink()
    assert "no such log file" in gates(stack, since)["logs.no_errors"]["message"]
    result = gates(stack, None)["logs.no_errors"]  # no --ipai-since, no state file
    assert (result["status"], result["error_class"]) == ("error", "since_unknown")


def test_the_log_gates_read_the_log_once(stack_db: Any, standin: Any) -> None:
    """logs.no_errors, http.error_rate and assets.bundles_ok share one read of the log (the
    first gate reads, the others take its scan from the run's memo), across xdist workers."""
    stack, _ = stack_db
    since = now_minus(1)
    server = standin("--traceback-every", "5")
    configure(stack, server.log)
    traffic(server.url, 25)
    counter = ReadCounter(server.log)
    try:
        results = postdeploy(stack, "--workers", "2", "--", "--ipai-since", since)
        reads = counter.reads()
    finally:
        counter.close()
    assert results["logs.no_errors"]["error_class"] == "log_error"  # it did read the errors
    assert results["http.error_rate"]["measurements"]["requests"] >= 20  # and the access lines
    assert results["logs.no_errors"]["measurements"]["bytes_read"] > 0
    assert reads == 1, (reads, {k: (v["status"], v["error_class"]) for k, v in results.items()})
