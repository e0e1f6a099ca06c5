"""HTTP gates against the running Odoo: health (with the database), and that it is Odoo with a
database selected."""

from __future__ import annotations

import json
import time

import pytest
import requests

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.recorder import GateRecorder

pytestmark = [pytest.mark.postdeploy]
GENERATOR = 'name="generator" content="Odoo'


def _base(gate: GateRecorder, config: StackConfig) -> str:
    base = config.env.raw.get("base_url")
    if not base:
        gate.error("http_not_configured", f"environments.{config.env.name}.base_url: not set")
    return str(base).rstrip("/")


def _evidence(response: requests.Response) -> str:
    head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return f"HTTP {response.status_code} {response.reason}\n{head}\n\n{response.text[:4096]}"


@pytest.mark.gate("http.health", severity="critical")
def test_health(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    base = _base(ipai_gate, ipai_config)
    retries = int(ipai_gate.params.get("retries", 3))
    timeout = float(ipai_gate.params.get("timeout", 5))
    backoff = float(ipai_gate.params.get("backoff", 0.5))
    url = f"{base}/web/health?db_server_status=1"
    last = "no attempt"
    healthy = False
    with requests.Session() as session:
        for attempt in range(1, retries + 1):
            started = time.monotonic()
            try:
                response = session.get(
                    url, timeout=(min(timeout, 3.0), timeout), allow_redirects=False
                )
            except requests.Timeout:
                last = f"no answer within {timeout:g}s"
                ipai_gate.attempt("timeout", last, started=started)
            except requests.RequestException as exc:
                last = f"connection failed ({type(exc).__name__})"
                ipai_gate.attempt("failed", last, started=started)
            else:
                ipai_gate.blob(f"health attempt {attempt}", _evidence(response))
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                healthy = (
                    response.status_code == 200
                    and body.get("status") == "pass"
                    and body.get("db_server_status") is True
                )
                last = f"HTTP {response.status_code} {json.dumps(body)[:200]}"
                ipai_gate.attempt("ok" if healthy else "failed", last, started=started)
                if healthy:
                    break
            if attempt < retries:
                time.sleep(min(backoff * 2 ** (attempt - 1), 10.0))
        if not healthy:
            ipai_gate.fail(
                "health_failed",
                f"GET /web/health?db_server_status=1: {retries} attempts, last: {last}",
            )
        try:
            login = session.get(f"{base}/web/login", timeout=(3.0, timeout), allow_redirects=False)
        except requests.RequestException as exc:
            ipai_gate.error(
                "health_failed",
                f"GET /web/login failed after a healthy check ({type(exc).__name__})",
            )
    ipai_gate.blob("GET /web/login", _evidence(login))
    location = login.headers.get("Location", "")
    if login.is_redirect and "/web/database/selector" in location:
        ipai_gate.fail(
            "db_not_selected",
            f"/web/login redirects to {location}: no database is selected (dbfilter / db_name)",
        )
    if login.status_code != 200 or GENERATOR not in login.text:
        server = login.headers.get("Server", "?")
        ipai_gate.fail(
            "not_odoo_response",
            f"/web/login answered HTTP {login.status_code} (Server: {server}) "
            "without Odoo's generator tag",
        )
