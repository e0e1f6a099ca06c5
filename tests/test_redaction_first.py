"""Redaction first: a generated secret (quotes, backslashes, non-ASCII, digits, URL-reserved
characters) injected into what the gates read (a log record with its traceback, an HTTP JSON
body and header, SQL rows, an exception message, file contents) leaves no part of itself in
what reaches a pack: not whole, not escaped, not cut, not fingerprinted, not any 8 characters
of it, whether the pack's files are read raw or JSON-decoded."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
import requests
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pytest_ipai.core.outcomes import GateFailure
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.core.redact import Redactor
from pytest_ipai.probes.odoo_http import evidence
from pytest_ipai.probes.odoo_logs import scan_chunks

ALPHABET = st.sampled_from(
    list("abcXYZ0123456789") + list("\"'\\`$") + list("éüß中😀") + list(":/?#[]@!&()*+,;=%~")
)
SECRETS = st.text(ALPHABET, min_size=12, max_size=40).filter(lambda s: len(set(s)) >= 6)
CONTEXT = (
    "2026-12-04 10:00:00,000 4242 ERROR demo odoo.http: Exception in request "
    "Traceback (most recent call last): ValueError: could not log in with HTTP 200 OK "
    "application/json X-Debug error data message rows health attempt password [REDACTED]"
)


def _pieces(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


def _log(secret: str) -> bytes:
    return (
        f"2026-12-04 10:00:00,000 4242 ERROR demo odoo.http: login failed for {secret} 17 \n"
        "Traceback (most recent call last):\n"
        f'  File "/x.py", line 3, in f\nValueError: password {secret!r} rejected\n'
        "2026-12-04 10:00:01,000 4242 INFO demo odoo.http: next \n"
    ).encode()


def _response(secret: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.reason = "OK"
    response.headers["Content-Type"] = "application/json"
    response.headers["X-Debug"] = secret.encode("utf-8").decode("latin-1")
    body = {"jsonrpc": "2.0", "error": {"data": {"message": f"bad {secret}"}}, "pad": "x" * 5000}
    response._content = json.dumps(body).encode()  # escapes quotes, backslashes, non-ASCII
    response.encoding = "utf-8"
    return response


def _record_everything(gate: GateRecorder, secret: str) -> None:
    scan = scan_chunks([_log(secret)], redact=gate.redact)
    gate.measure("fingerprints", scan.fingerprints)  # digits blanked after redaction
    gate.blob("log errors.json", json.dumps([r.text for r in scan.samples]), "application/json")
    response = _response(secret)
    gate.blob("GET /web/health", evidence(response, gate.redact, limit=60))  # cut after redaction
    gate.measure("body", json.dumps(gate.redactor.data(response.json()))[:200])
    gate.measure("rows", [[secret, 1], {"col": f"{secret}-7"}])  # SQL rows
    gate.blob("conf.txt", f"db_password = {secret}\n")  # file contents
    gate.blob("raw.bin", b"\x00\x01" + secret.encode() + b"\xff")  # not text at all
    gate.attempt("failed", f"connection failed: {secret}")
    gate.notice("odd", f"seen {secret}")


def _everything_written(gate: GateRecorder, message: str) -> list[str]:
    """What a pack holds, read the ways a reader would: raw JSON text, JSON-decoded strings,
    each blob decoded."""
    payload = {"message": message, **gate.to_payload()}
    texts = [json.dumps(payload), json.dumps(payload, ensure_ascii=False)]
    blobs = [base64.b64decode(b["b64"]) for b in gate.blobs]
    texts += [b.decode("utf-8", "replace") for b in blobs]
    for blob in blobs:
        with contextlib.suppress(ValueError):
            texts += list(_strings(json.loads(blob)))
    texts += list(_strings(payload))
    return texts


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@settings(max_examples=150, deadline=None)
@given(SECRETS)
def test_no_part_of_a_secret_reaches_a_pack(secret: str) -> None:
    assume(not any(piece in CONTEXT for piece in _pieces(secret)))
    gate = GateRecorder("probe.any", redactor=Redactor([secret]))
    _record_everything(gate, secret)
    with pytest.raises(GateFailure) as failure:
        gate.fail("login_failed", f"could not log in with {secret} ({len(secret)} chars)")
    written = _everything_written(gate, failure.value.message)
    for piece in _pieces(secret):
        leaks = [text for text in written if piece in text]
        assert not leaks, (piece, leaks[:1])
