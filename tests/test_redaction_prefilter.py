"""The redactor's prefilter (one search for a literal every credential pattern needs) never
changes what it redacts: on text made of the patterns' own pieces, redacting with it equals
running every pattern."""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ipai.core import redact
from pytest_ipai.core.redact import PATTERNS, Redactor

PIECES = [
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "postgres://",
    "https://u",
    ":",
    "@",
    "=",
    " ",
    "\n",
    "'",
    '"',
    "password",
    "PASSWD",
    "pwd",
    "ghp_",
    "github_pat_",
    "AKIA",
    "asia",
    "xoxb-",
    "eyJ",
    ".",
    "Bearer ",
    "bearer ",
    "secret",
    "TOKEN",
    "api_key",
    "Access-Key",
    "private_key",
    "DB_",
    "/etc/passwd",
    "A1b2C3d4E5f6G7h8",
    "0123456789abcdef0123456789abcdef0123",
    "host=db",
    "value",
    "_",
    "-",
]


def every_pattern(text: str) -> str:
    for _kind, pattern, group in PATTERNS:
        text = pattern.sub(functools.partial(redact._mask, group=group), text)
    return text


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=14).map("".join))
def test_the_prefilter_changes_nothing(text: str) -> None:
    assert Redactor().text(text) == every_pattern(text)


KEYS = ["password", "passwd", "secret", "token", "api_key", "apikey", "access-key", "private_key"]
assignment = st.tuples(
    st.sampled_from(["", "DB_", "client_", "x.", '"']),
    st.sampled_from(KEYS).map(lambda k: k.upper() if len(k) % 2 else k),
    st.sampled_from(["=", ": ", " = ", '": "']),
    st.text(alphabet="abcXYZ0189_-", min_size=0, max_size=10),
).map("".join)


@settings(max_examples=500, deadline=None)
@given(assignment, st.text(max_size=5))
def test_assignments_of_every_secret_word(text: str, tail: str) -> None:
    assert Redactor().text(text + tail) == every_pattern(text + tail)


def test_the_prefilter_lets_credentials_through() -> None:
    samples = [
        "DB_PASSWORD=hunter2hunter2",
        "Authorization: Bearer abcdefghijklmnop1234",
        "AKIAABCDEFGHIJKLMNOP",
        "postgresql://odoo:s3cretpw@db/odoo",
    ]
    for text in samples:
        assert redact.PREFILTER.search(text) is not None
        assert Redactor().text(text) != text
