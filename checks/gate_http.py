"""HTTP gates against the running Odoo: health (with the database) and that the responder is
Odoo of the stack's series with a database selected; longpolling/websocket where Odoo serves it
and where the public URL routes it."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.odoo_http import (
    NotOdoo,
    evidence,
    missing_login_markers,
    version_info,
    websocket_handshake,
)

pytestmark = [pytest.mark.postdeploy]
FINGERPRINTS = ("version_info", "login")


def base_url(gate: GateRecorder, config: StackConfig) -> str:
    base = config.env.raw.get("base_url")
    if not base:
        gate.error("http_not_configured", f"environments.{config.env.name}.base_url: not set")
    return str(base).rstrip("/")


@pytest.mark.gate("http.health", severity="critical")
def test_health(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    base = base_url(ipai_gate, ipai_config)
    timeout = float(ipai_gate.params.get("timeout", 5))
    fingerprint = list(ipai_gate.params.get("fingerprint", FINGERPRINTS))
    unknown = sorted(set(fingerprint) - set(FINGERPRINTS))
    if unknown or not fingerprint:
        ipai_gate.error(
            "policy_invalid",
            f"http.health params.fingerprint: {unknown or 'empty'}; use one or more of "
            f"{', '.join(FINGERPRINTS)}",
        )
    with requests.Session() as session:
        _healthy(ipai_gate, session, base, timeout)
        if "login" in fingerprint:
            _login(ipai_gate, session, base, timeout)
        if "version_info" in fingerprint:
            _series(ipai_gate, ipai_config, session, base, timeout)


def _healthy(gate: GateRecorder, session: requests.Session, base: str, timeout: float) -> None:
    retries = int(gate.params.get("retries", 3))
    backoff = float(gate.params.get("backoff", 0.5))
    url = f"{base}/web/health?db_server_status=1"
    last = "no attempt"
    for attempt in range(1, retries + 1):
        started = time.monotonic()
        try:
            response = session.get(url, timeout=(min(timeout, 3.0), timeout), allow_redirects=False)
        except requests.Timeout:
            last = f"no answer within {timeout:g}s"
            gate.attempt("timeout", last, started=started)
        except requests.RequestException as exc:
            last = f"connection failed ({type(exc).__name__})"
            gate.attempt("failed", last, started=started)
        else:
            gate.blob(f"health attempt {attempt}", evidence(response, gate.redact))
            try:
                body = response.json()
            except ValueError:
                body = {}
            healthy = (
                response.status_code == 200
                and isinstance(body, dict)
                and body.get("status") == "pass"
                and body.get("db_server_status") is True
            )
            shown = json.dumps(gate.redactor.data(body))  # redacted value by value, then cut
            last = f"HTTP {response.status_code} {shown[:200]}"
            gate.attempt("ok" if healthy else "failed", last, started=started)
            if healthy:
                return
        if attempt < retries:
            time.sleep(min(backoff * 2 ** (attempt - 1), 10.0))
    gate.fail(
        "health_failed", f"GET /web/health?db_server_status=1: {retries} attempts, last: {last}"
    )


def _login(gate: GateRecorder, session: requests.Session, base: str, timeout: float) -> None:
    try:
        login = session.get(f"{base}/web/login", timeout=(3.0, timeout), allow_redirects=False)
    except requests.RequestException as exc:
        gate.error(
            "health_failed", f"GET /web/login failed after a healthy check ({type(exc).__name__})"
        )
    gate.blob("GET /web/login", evidence(login, gate.redact))
    location = login.headers.get("Location", "")
    if login.is_redirect and "/web/database/selector" in location:
        gate.fail(
            "db_not_selected",
            f"/web/login redirects to {location}: no database is selected (dbfilter / db_name)",
        )
    missing = missing_login_markers(login.text) if login.status_code == 200 else []
    if login.status_code != 200 or missing:
        server = login.headers.get("Server", "?")
        what = f"lacks {', '.join(missing)}" if missing else "is not Odoo's login page"
        gate.fail(
            "not_odoo_response",
            f"/web/login answered HTTP {login.status_code} (Server: {server}) and {what}",
        )


def _series(
    gate: GateRecorder, config: StackConfig, session: requests.Session, base: str, timeout: float
) -> None:
    try:
        info, shown = version_info(session, base, timeout, gate.redact)
    except NotOdoo as exc:
        gate.fail("not_odoo_response", f"POST /web/webclient/version_info: {exc}")
    except requests.RequestException as exc:
        gate.error(
            "health_failed", f"POST /web/webclient/version_info failed ({type(exc).__name__})"
        )
    gate.blob("POST /web/webclient/version_info", shown)
    gate.measure("server_series", info.series)
    gate.measure("server_version", info.version)
    expected = config.series
    if expected and info.series != expected:
        gate.fail(
            "runtime_series_mismatch",
            f"the running server is Odoo {info.version} (series {info.series}); "
            f"the stack is {expected}",
        )


@pytest.mark.gate("http.longpolling", severity="critical")
def test_longpolling(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    base = base_url(ipai_gate, ipai_config)
    env = ipai_config.env.raw
    timeout = float(ipai_gate.params.get("timeout", 5))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
    public = websocket_handshake(f"{base}/websocket", timeout, origin)
    ipai_gate.attempt(
        "ok" if public.status == 101 else "failed", f"{base}/websocket: {public.detail}"
    )
    if int(env.get("workers", 0)) <= 0:
        ipai_gate.measure("mode", "threaded")
        if public.status != 101:
            ipai_gate.fail(
                "websocket_failed",
                f"threaded mode serves /websocket on the HTTP port: {base}/websocket answered "
                f"{public.detail}",
            )
        return
    ipai_gate.measure("mode", "workers")
    direct = str(
        env.get("longpolling_url") or f"http://127.0.0.1:{int(env.get('gevent_port', 8072))}"
    )
    direct = direct.rstrip("/")
    try:
        health = requests.get(f"{direct}/web/health", timeout=(min(timeout, 3.0), timeout))
    except requests.Timeout:
        ipai_gate.fail(
            "longpolling_down",
            f"{direct}/web/health: no answer within {timeout:g}s (is the gevent child "
            "crash-looping? it logs its traceback to stdout only)",
        )
    except requests.RequestException as exc:
        ipai_gate.fail(
            "longpolling_down", f"{direct}/web/health: connection failed ({type(exc).__name__})"
        )
    ipai_gate.blob("GET longpolling /web/health", evidence(health, ipai_gate.redact))
    if health.status_code != 200:
        ipai_gate.fail(
            "longpolling_down", f"{direct}/web/health answered HTTP {health.status_code}"
        )
    served = websocket_handshake(f"{direct}/websocket", timeout, origin)
    ipai_gate.attempt(
        "ok" if served.status == 101 else "failed", f"{direct}/websocket: {served.detail}"
    )
    if served.status != 101:
        ipai_gate.fail("websocket_failed", f"{direct}/websocket answered {served.detail}")
    if public.status != 101:
        ipai_gate.fail(
            "websocket_not_routed",
            f"{base}/websocket answered {public.detail}, while the longpolling port accepts "
            "websockets: the proxy must route /websocket to it (chat and bus are broken)",
        )
