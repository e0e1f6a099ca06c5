"""Secret redaction: applied to everything before it is written, and used by the pack verifier.

Two sources: the current values of the secrets the config names (environment variables, files),
and patterns of common credential formats. Findings name the kind and line, never the value.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

MARK = "[REDACTED]"
_VALUE = r"(?![\[$<*{])[^\s\"',;)]{8,}"

_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^:/\s@]+:([^@\s/]+)@", re.I)
_DSN_PASSWORD = re.compile(r"\bpassword\s*=\s*('[^']*'|\"[^\"]*\"|[^\s'\"]+)", re.I)

# (kind, pattern, group holding the secret or 0 for the whole match)
PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
        ),
        0,
    ),
    ("url_password", _URL_PASSWORD, 1),
    ("dsn_password", _DSN_PASSWORD, 1),
    (
        "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
        0,
    ),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), 0),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 0),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0),
    ("bearer_token", re.compile(r"\bBearer\s+([A-Za-z0-9._~+/=-]{16,})"), 1),
    (
        "assigned_secret",
        re.compile(
            # A key that ends in a secret word, in the forms config files use: KEY=value (.env,
            # compose "- KEY=value"), key: value (YAML), key = value (INI, odoo.conf),
            # "key": "value" (JSON). Not after a slash or a word character: "/etc/passwd:ro"
            # is a path, and DB_PASSWORD must still match (a \b never does after "_").
            r"(?<![\w/\\.-])[\"']?[A-Za-z0-9_.-]*?"
            r"(?:passw(?:or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
            r"[\"']?\s*(?::|=)\s*[\"']?((?![\[$<*{(])[^\s\"',;)]{4,})",
            re.I,
        ),
        1,
    ),
)


# A literal every pattern above needs (case ignored: a wider net than any one of them): text
# without one is left alone in one search, not eleven. Held equal to the full passes by a
# property test (tests/test_redaction_prefilter.py).
PREFILTER = re.compile(
    r"-----BEGIN|://|passw(?:or)?d|gh[pousr]_|github_pat_|AKIA|ASIA|xox[abposr]-|eyJ|Bearer"
    r"|secret|token|api[_-]?key|access[_-]?key|private[_-]?key",
    re.I,
)


def map_strings(value: Any, function: Callable[[str], str]) -> Any:
    """JSON-like data with ``function`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, dict):
        return {function(str(k)): map_strings(v, function) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [map_strings(v, function) for v in value]
    return value


def redact_json_text(text: str, function: Callable[[str], str]) -> str | None:
    """A JSON document's text with ``function`` applied value by value (an escaped secret is
    whole again once decoded), or None when the text is not JSON."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    cleaned = map_strings(document, function)
    return text if cleaned == document else json.dumps(cleaned, indent=1)


def secret_parts(values: Iterable[str]) -> set[str]:
    """The secret values, each with the password inside it when it is a DSN (URL or libpq
    ``password=``): a log line may carry the password alone. Values under 4 characters are
    dropped: they would shred ordinary text, and a secret that short is no secret."""
    parts: set[str] = set()
    for value in values:
        parts.add(value)
        for pattern in (_URL_PASSWORD, _DSN_PASSWORD):
            for match in pattern.finditer(value):
                password = match.group(1).strip("'\"")
                parts.update((password, unquote(password)))  # a URL's may be percent-encoded
    return {form for p in parts if len(p) >= 4 for form in _written_forms(p)}


def credential_parts(values: Iterable[str]) -> set[str]:
    """What of each configured secret is a secret when it lies in a committed file: the
    password of a URL or libpq DSN (a DSN without one holds none: host and database names
    are not secrets), else the whole value; in every form a program writes it."""
    chosen = []
    for value in values:
        passwords = [
            m.group(1).strip("'\"")
            for p in (_URL_PASSWORD, _DSN_PASSWORD)
            for m in p.finditer(value)
        ]
        if passwords:
            chosen += passwords + [unquote(p) for p in passwords]
        elif not _DSN_SHAPE.search(value):
            chosen.append(value)
    return secret_parts(chosen)


_DSN_SHAPE = re.compile(r"^[a-z][a-z0-9+.-]*://|\b(?:host|dbname|user|port)=", re.I)


def _written_forms(secret: str) -> set[str]:
    """The secret and the ways a program writes it: JSON-escaped (ASCII or not), as Python's
    repr shows it in a traceback, percent-encoded in a URL, and its UTF-8 bytes read as Latin-1
    (what an HTTP client makes of a header)."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms |= {repr(secret)[1:-1], quote(secret, safe=""), quote(secret)}
    forms.add(secret.encode("utf-8", "surrogatepass").decode("latin-1"))
    return forms


@dataclass(frozen=True)
class Finding:
    kind: str
    line: int


class Redactor:
    """Replaces known secret values and credential-shaped strings with ``[REDACTED]``."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        # Longest first so a value that contains another is removed whole; tiny values would
        # shred ordinary text, and a secret that short is no secret.
        self._values = sorted(secret_parts(secret_values), key=len, reverse=True)

    def text(self, value: str) -> str:
        if not value:
            return value  # most messages of passing gates: nothing to search
        for secret in self._values:
            value = value.replace(secret, MARK)
        if PREFILTER.search(value) is None:
            return value
        for _kind, pattern, group in PATTERNS:
            value = pattern.sub(functools.partial(_mask, group=group), value)
        return value

    def data(self, value: Any) -> Any:
        """Redact every string inside JSON-like data (keys included)."""
        return map_strings(value, self.text)

    def blob(self, content: bytes) -> bytes:
        try:
            return self.text(content.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            for secret in self._values:
                content = content.replace(secret.encode("utf-8"), MARK.encode())
            return content


def _mask(match: re.Match[str], group: int) -> str:
    if group == 0:
        return MARK
    start, end = match.span(group)
    offset = match.start()
    whole = match.group(0)
    return whole[: start - offset] + MARK + whole[end - offset :]


_NOT_SECRET = re.compile(
    r"^(?:false|true|none|null|nil|0|\*+|x+|changeme|change_me|changeit|password|passwd|secret"
    r"|token|example|placeholder|dummy|redacted|\$\{.*|\$\w+.*|%\(.*|\{\{.*|<.*>|your[_-].*"
    r"|os\.environ.*|getenv.*|env\.|secrets\..*|.*\(.*|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)$",
    re.I,
)


def _benign(value: str) -> bool:
    """Values that name or stand for a secret rather than being one (False, ${VAR},
    os.getenv(...), a placeholder such as PASSWORD or xxxx, one character repeated)."""
    bare = value.strip("'\"")
    core = bare.split("_", 1)[1] if re.match(r"^[A-Za-z]{2,6}_.", bare) else bare  # ghp_xxxx
    return bare in ("", MARK) or bool(_NOT_SECRET.match(bare)) or len(set(core.lower())) == 1


def _placeholder(kind: str, match: str) -> bool:
    """Documentation examples of a token or key: ghp_xxxx..., a key block of dots."""
    if kind == "private_key":  # BEGIN, an elision (... or <key>), END: a documented shape
        body = re.sub(r"-----(?:BEGIN|END)[A-Z ]*-----", "", match)
        return (
            "-----END" in match
            and re.search(r"[A-Za-z0-9+/=]{4,}", body.replace("key", "")) is None
        )
    body = match.split("_", 1)[-1] if kind == "github_token" else match
    return len(set(body.lower())) <= 3


def find_secrets(text: str, secret_values: Iterable[str] = ()) -> list[Finding]:
    """Where credential-shaped strings (or known secret values) occur, by kind and line."""
    findings: list[Finding] = []
    for secret in secret_parts(secret_values):
        index = text.find(secret)
        if index >= 0:
            findings.append(Finding("configured_secret", text.count("\n", 0, index) + 1))
    for kind, pattern, group in PATTERNS:
        for match in pattern.finditer(text):
            if _benign(match.group(group)) if group else _placeholder(kind, match.group(0)):
                continue
            line = text.count("\n", 0, match.start()) + 1
            if kind == "assigned_secret" and any(f.line == line for f in findings):
                continue  # the same value, already found by a more precise pattern
            findings.append(Finding(kind, line))
    return sorted(findings, key=lambda f: (f.line, f.kind))
