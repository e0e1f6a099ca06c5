"""Asset bundles gate: every bundle the login page loads answers 200 with its content type,
carries no CSS error block, parses as JavaScript, and no asset ERROR was logged since the deploy.

A broken bundle hides well in Odoo: broken SCSS still answers 200 (the body ends in Odoo's CSS
error block, a WARNING in the log), a JavaScript syntax error answers 200 with nothing in the
log, and only a missing file logs an ERROR.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
import requests

from pytest_ipai.config.policy import Policy
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.memo import RunMemo
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.probes.odoo_http import bundles, evidence

from .gate_http import base_url
from .log_source import read_odoo_log

pytestmark = [pytest.mark.postdeploy]
CSS_ERROR = ("/* ## CSS error message ##*/", "css_error_message")
ASSETS_LOGGER = "odoo.addons.base.models.assetsbundle"
JS_TYPES = ("application/javascript", "text/javascript")


def js_syntax_error(node: str, body: bytes, timeout: float) -> str | None:
    """The first line of the parser's complaint about ``body``, or None when it parses."""
    with tempfile.TemporaryDirectory(prefix="ipai-js-") as tmp:
        path = Path(tmp) / "bundle.js"
        path.write_bytes(body)
        proc = subprocess.run(
            [node, "--check", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if "Error" in line]
    where = next((line for line in proc.stderr.splitlines() if line.startswith(str(path))), "")
    return (lines[0] if lines else "does not parse") + (
        f" (line {where.rsplit(':', 1)[-1]})" if where else ""
    )


@pytest.mark.gate("http.assets", severity="critical")
def test_assets(
    ipai_gate: GateRecorder,
    ipai_config: StackConfig,
    ipai_since: datetime,
    ipai_policy: Policy,
    ipai_run_memo: RunMemo,
) -> None:
    base = base_url(ipai_gate, ipai_config)
    timeout = float(ipai_gate.params.get("timeout", 20))
    node = shutil.which(str(ipai_gate.params.get("js_parser", "node")))
    if node is None:
        ipai_gate.error("js_parser_unavailable", "node (Node.js) is needed to parse the JS bundles")
    findings: list[tuple[str, str]] = []
    with requests.Session() as session:
        try:
            login = session.get(f"{base}/web/login", timeout=(3.0, timeout))
        except requests.RequestException as exc:
            ipai_gate.error("assets_unverifiable", f"GET /web/login failed ({type(exc).__name__})")
        if login.status_code != 200:
            ipai_gate.error(
                "assets_unverifiable", f"GET /web/login answered HTTP {login.status_code}"
            )
        paths = bundles(login.text)
        ipai_gate.measure("bundles", paths)
        if not paths:
            ipai_gate.fail("assets_missing", "the login page references no /web/assets/ bundle")
        for path in paths:
            try:
                response = session.get(f"{base}{path}", timeout=(3.0, timeout))
            except requests.RequestException as exc:
                findings.append(("asset_unavailable", f"{path}: {type(exc).__name__}"))
                continue
            findings += _judge(ipai_gate, path, response, node, timeout)
    scan = read_odoo_log(ipai_gate, ipai_config, ipai_policy, ipai_run_memo, ipai_since)
    logged = {fp: n for fp, n in scan.fingerprints.items() if fp.startswith(ASSETS_LOGGER)}
    ipai_gate.measure("asset_errors_logged", sum(logged.values()))
    findings += [("asset_error_logged", f"{n}x {fp}") for fp, n in logged.items()]
    ipai_gate.fail_findings(findings)


def _judge(
    gate: GateRecorder, path: str, response: requests.Response, node: str, timeout: float
) -> list[tuple[str, str]]:
    ctype = response.headers.get("Content-Type", "")
    if response.status_code != 200:
        gate.blob(f"GET {path}", evidence(response, gate.redact))
        return [("asset_unavailable", f"{path}: HTTP {response.status_code}")]
    if path.endswith(".css"):
        if not ctype.startswith("text/css"):
            return [("asset_wrong_type", f"{path}: Content-Type {ctype or '(none)'}")]
        text = gate.redact(response.text)  # before any cut below
        if any(marker in text for marker in CSS_ERROR):
            at = text.find("css_error_message")
            gate.blob(f"CSS error in {path.rsplit('/', 1)[-1]}", text[max(0, at - 200) : at + 800])
            return [
                ("asset_css_error", f"{path}: Odoo's CSS error block (the SCSS did not compile)")
            ]
        return []
    if not ctype.startswith(JS_TYPES):
        return [("asset_wrong_type", f"{path}: Content-Type {ctype or '(none)'}")]
    problem = js_syntax_error(node, response.content, timeout)
    if problem:
        return [("asset_js_syntax_error", f"{path}: {problem}")]
    return []
