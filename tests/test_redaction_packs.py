"""Redaction first, end to end: a generated secret is configured (the DSN's password and a
secret the config names) and then injected into everything a post-deploy run reads: the
stand-in's response headers and health body, its log (a record with a traceback, an access line
carrying the secret in a query string), an SQL row, odoo.conf. After a real ``ipai gate
postdeploy`` and ``ipai report``, no pack file, blob, console line or report holds the secret or
any 8 characters of it, whether read raw or JSON-decoded."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from conftest import run_ipai
from hypothesis import HealthCheck, Phase, given, settings
from odoo_db import admin
from test_log_gates import configure, now_minus
from test_redaction_first import SECRETS, _pieces, _strings


def _inject(stack: Path, db: Any, secret: str) -> None:
    with admin(db.name, db.server) as conn:  # an SQL row the database gate reads and shows
        conn.execute(
            "UPDATE ir_module_module SET latest_version = %s WHERE name = 'queue_job'", (secret,)
        )
    conf = stack / "odoo.conf"
    conf.write_text(conf.read_text() + f"\n; admin was {secret}\n")


def _with_password(dsn: str, password: str) -> str:
    """The URL DSN with ``password`` (the test cluster trusts loopback, so it is ignored)."""
    scheme, rest = dsn.split("://", 1)
    user_host, path = rest.split("/", 1)
    user, host = user_host.rsplit("@", 1) if "@" in user_host else ("postgres", user_host)
    return f"{scheme}://{user.split(':')[0]}:{quote(password, safe='')}@{host}/{path}"


def _traffic(url: str, secret: str) -> None:
    with requests.Session() as session:
        for _ in range(25):  # enough samples for http.error_rate to judge
            session.get(f"{url}/web/login", params={"redirect": secret}, timeout=5)
        session.get(f"{url}/web/health", timeout=5)  # logs the exception before any gate looks


def _everything_written(pack: Path, report: Path, console: str) -> list[tuple[str, str]]:
    found = [("console", console)]
    for path in [*sorted(p for p in pack.rglob("*") if p.is_file()), report]:
        raw = path.read_bytes()
        text = raw.decode("utf-8", "replace")
        found.append((str(path), text))
        lines = [text] if path.suffix == ".json" else text.splitlines()
        for line in lines:
            try:
                found += [(str(path), s) for s in _strings(json.loads(line))]
            except ValueError:
                continue
    return found


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,  # the same secrets on every run: a failure is reproducible, never luck
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example is a whole run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(SECRETS)
def test_no_part_of_a_secret_reaches_a_pack_or_a_report(
    stack_db: Any, standin: Any, secret: str
) -> None:
    stack, db = stack_db
    since = now_minus(1)
    server = standin("--leak", secret)
    if "log_source" not in (stack / "ipai.toml").read_text():  # every example logs to one file
        configure(stack, server.log)
    _inject(stack, db, secret)
    _traffic(server.url, secret)
    dsn = _with_password(db.dsn, secret)
    env = {**os.environ, "DEMO_DSN": dsn, "DEMO_ADMIN_PASSWD": f"{secret}-admin"}
    root = stack / "evidence"
    before = set(root.glob("*/*")) if root.exists() else set()
    config = str(stack / "ipai.toml")
    proc = run_ipai("gate", "postdeploy", "--config", config, "--", "--ipai-since", since, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the leak fails http.health
    (pack,) = [p for p in root.glob("*/*") if p.is_dir() and p not in before]
    verify = run_ipai("evidence", "verify", str(pack), "--config", config, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = run_ipai("report", str(pack), "--output", str(pack.parent / "report.html"), env=env)
    assert report.returncode == 0, report.stderr
    results = {r["gate_id"]: r for r in json.loads((pack / "results.json").read_text())["results"]}
    assert results["http.health"]["status"] == "fail"  # each injection was read by its gate
    assert results["logs.no_errors"]["error_class"] == "log_error"
    assert results["db.migrations_applied"]["status"] == "fail"
    console = proc.stdout + proc.stderr + verify.stdout + verify.stderr + report.stdout
    written = _everything_written(pack, pack.parent / "report.html", console)
    for piece in _pieces(secret):
        leaks = [where for where, text in written if piece in text]
        assert not leaks, (piece, leaks[:3])
