"""Secrets never reach a pack: configured values, DSN passwords and token formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import only_pack, run_ipai

from pytest_ipai.core.redact import MARK, Redactor, find_secrets

SECRET = "s3cr3t-Value-From-Env"
DSN_PW = "dbPassw0rdXYZ"
TOKEN = "ghp_" + "Zz9Yy8Xx7W" * 4

LEAKY = f"""
import os
import pytest

pytestmark = pytest.mark.predeploy


@pytest.mark.gate("demo.leaks")
def test_leaks(ipai_gate):
    secret = os.environ["IPAI_TEST_SECRET"]
    ipai_gate.measure("dsn", "postgresql://odoo:{DSN_PW}@127.0.0.1:5432/odoo")
    ipai_gate.attempt("failed", "Authorization: Bearer {TOKEN}")
    ipai_gate.blob("env.txt", f"IPAI_TEST_SECRET={{secret}}\\n")
    print("stdout has", secret)
    ipai_gate.fail("leaky", f"could not log in with {{secret}} and {TOKEN}")
"""


def all_text(pack: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in pack.rglob("*") if p.is_file())


@pytest.mark.parametrize("xdist", [False, True], ids=["no-xdist", "xdist"])
def test_secrets_are_redacted_everywhere_in_the_pack(
    project: Any, monkeypatch: pytest.MonkeyPatch, xdist: bool
) -> None:
    monkeypatch.setenv("IPAI_TEST_SECRET", SECRET)
    p = project({"demo.leaks": {}})
    p.pytester.makepyfile(test_leaky=LEAKY)
    result = p.run(xdist=xdist)
    assert result.ret == 1
    pack = only_pack(p.evidence)
    text = all_text(pack)
    for secret in (SECRET, DSN_PW, TOKEN):
        assert secret not in text
    assert MARK in text
    verify = run_ipai("evidence", "verify", str(pack))
    assert verify.returncode == 0, verify.stdout


def test_redactor_patterns() -> None:
    redactor = Redactor(["known-secret-1"])
    sample = (
        "url postgresql://odoo:pw123456@db/odoo\n"
        "dsn host=db password='p a s s' user=odoo\n"
        "aws AKIAABCDEFGHIJKLMNOP\n"
        "slack xoxb-123456789012-abcdefghij\n"
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX19fX18\n"
        "key -----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----\n"
        "api_key = 'abcdefgh12345678'\n"
        "value known-secret-1\n"
    )
    out = redactor.text(sample)
    for leaked in (
        "pw123456",
        "p a s s",
        "AKIAABCDEFGHIJKLMNOP",
        "xoxb-123456789012",
        "eyJhbGci",
        "MIIabc",
        "abcdefgh12345678",
        "known-secret-1",
    ):
        assert leaked not in out
    assert find_secrets(out) == []
    kinds = {f.kind for f in find_secrets(sample)}
    assert kinds >= {
        "url_password",
        "dsn_password",
        "aws_access_key",
        "slack_token",
        "jwt",
        "private_key",
        "assigned_secret",
    }
    assert [f.line for f in find_secrets(sample) if f.kind == "aws_access_key"] == [3]


def test_redactor_leaves_ordinary_text_alone() -> None:
    text = "oca.repos_present: 3/3 present; password policy ok; token bucket at 80%"
    assert Redactor(["ab"]).text(text) == text  # values too short to be secrets are ignored
    assert find_secrets(text) == []
    mount = "    - /etc/passwd:/etc/passwd:ro"  # a compose volume, not an assignment
    assert find_secrets(mount) == [] and Redactor().text(mount) == mount
    assert [f.kind for f in find_secrets("passwd: hunter2hunter2")] == ["assigned_secret"]


def test_binary_blob_redaction() -> None:
    blob = b"\xff\xfe binary known-secret-1 \x00"
    assert b"known-secret-1" not in Redactor(["known-secret-1"]).blob(blob)


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://odoo:{DSN_PW}@db:5432/odoo",
        f"postgresql://odoo:{DSN_PW.replace('0', '%30')}@db/odoo",  # percent-encoded in the URL
        f"host=db user=odoo password={DSN_PW} dbname=odoo",
        f"host=db password='{DSN_PW}' dbname=odoo",
    ],
)
def test_a_dsn_secret_also_redacts_its_password_alone(dsn: str) -> None:
    line = f"connection to db failed for odoo with {DSN_PW} (retrying)"
    assert Redactor([dsn]).text(line) == f"connection to db failed for odoo with {MARK} (retrying)"
    assert [f.kind for f in find_secrets(line, [dsn])] == ["configured_secret"]


def test_a_value_that_is_not_a_url_is_still_a_secret() -> None:
    value = "http://[::1:bad-port-secret"  # urlsplit refuses it
    assert Redactor([value]).text(f"x {value} y") == f"x {MARK} y"
