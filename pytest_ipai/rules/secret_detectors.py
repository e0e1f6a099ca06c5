"""What judges a line for committed secrets: detect-secrets' detectors and filters, plus the
detectors it lacks and the filters for the noise an Odoo stack repository holds.

detect-secrets' high-entropy detectors are left out (every hash, asset name and translation id
would be a finding) and so is its public-IP detector (an address is not a secret). No detector
verifies a secret over the network: verification is a setting of its command line, never set here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.filters import allowlist, heuristic
from detect_secrets.plugins import keyword
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.keyword import KeywordDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.util.code_snippet import CodeSnippet, get_code_snippet

from ..core.redact import PATTERNS

_LEFT_OUT = {"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"}


def _pattern(kind: str) -> re.Pattern[str]:
    return next(pattern for name, pattern, _group in PATTERNS if name == kind)


class AssignedSecretDetector(RegexBasedDetector):
    """``KEY=value`` (.env, compose ``- KEY=value``), ``key: value`` (YAML), ``key = value``
    (INI, odoo.conf) and ``"key": "value"`` (JSON) where the key ends in a secret word:
    ``*_PASSWORD``, ``*_PASSWD``, ``*_SECRET``, ``*_TOKEN``, ``*_API_KEY``, Odoo's
    ``admin_passwd``, ``db_password`` and ``smtp_password``. detect-secrets' keyword detector
    knows no ``token`` and wants quotes in YAML."""

    secret_type = "Assigned Secret"  # noqa: S105 (a detector's name)
    denylist = (_pattern("assigned_secret"),)


class DsnPasswordDetector(RegexBasedDetector):
    """The password of a URL (``scheme://user:password@host``, any character but ``@`` and
    ``/``) or of a libpq DSN (``host=db password=...``)."""

    secret_type = "DSN Password"  # noqa: S105 (a detector's name)
    denylist = (_pattern("url_password"), _pattern("dsn_password"))


def detectors() -> list[BasePlugin]:
    """Specific detectors first: when two see the same value, the first one's type is kept."""
    chosen: list[type[BasePlugin]] = list(get_mapping_from_secret_type_to_class().values())
    plugins: list[BasePlugin] = [c() for c in chosen if c.__name__ not in _LEFT_OUT]
    generic = [p for p in plugins if isinstance(p, KeywordDetector)]
    specific = [p for p in plugins if not isinstance(p, KeywordDetector)]
    return [*specific, DsnPasswordDetector(), *generic, AssignedSecretDetector()]


def plugin_names() -> list[str]:
    """The detect-secrets plugins in use, by the names its baselines use."""
    ours = (AssignedSecretDetector, DsnPasswordDetector)
    return sorted(type(p).__name__ for p in detectors() if not isinstance(p, ours))


def prefilter_patterns(plugins: list[BasePlugin]) -> list[str]:
    """Patterns (Perl-compatible, for ``git grep -P``) that every line a detector could flag
    matches: each regex detector's own patterns, and the keyword detector's words."""
    patterns = [rf"(?i:{keyword.DENYLIST_REGEX})"]
    for plugin in plugins:
        if isinstance(plugin, RegexBasedDetector):
            for regex in plugin.denylist:
                flags = "i" if regex.flags & re.IGNORECASE else ""
                patterns.append(f"(?{flags}:{regex.pattern})")  # scoped: Python and PCRE alike
    return patterns


# ---- filters: each returns the reason a candidate is no secret, or None ----------------------

_PLACEHOLDER = re.compile(
    r"^(?:false|true|none|null|nil|undefined|0|1|\*+|x+|\.+|-+|change[_-]?me.*|changeit"
    r"|passw(?:or)?d|secret|token|example.*|placeholder|dummy|redacted|fake.*|sample.*|todo"
    r"|your[_-].*|my[_-]?(?:password|secret|token).*|<.*>|\[.*\]|\{\{.*|%\(.*|\$\{.*|\$\w+.*)$",
    re.I,
)
_ENVIRONMENT = re.compile(
    r"os\.(?:environ|getenv)|\bgetenv\s*\(|environ(?:\.get)?\s*[\[(]|process\.env\.|\bENV\[",
)
_CODE_REFERENCE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?$")
_XML_ATTRIBUTE = re.compile(r"""\s[\w:.-]+\s*=\s*["'](?:True|False|1|0|true|false)["']""")


def _placeholder(secret: str, line: str) -> bool:
    """A value that stands for a secret: PASSWORD, CHANGE_ME_..., xxxx, <token>, ghp_xxxx...
    (one character repeated after a token's prefix), or the key's own name (KEY=KEY)."""
    bare = secret.strip("'\"")
    body = bare.split("_", 1)[1] if re.match(r"^[A-Za-z]{2,6}_.", bare) else bare
    if _PLACEHOLDER.match(bare) or len(set(body.lower())) == 1:
        return True
    key = re.split(r"\s*[:=]", line.strip().lstrip("- "), maxsplit=1)[0].strip("'\" ")
    return bool(key) and key.lower() == bare.lower()


_SECRET_WORD = re.compile(
    rf"(?i:{keyword.DENYLIST_REGEX})|(?i:passw(?:or)?d|secret|token|api[_-]?key)"
)


def _word_in_path(line: str) -> bool:
    """Every secret word on the line is a path segment (``/etc/passwd:/etc/passwd:ro``, a
    compose volume): the detectors took a path for an assignment."""
    words = list(_SECRET_WORD.finditer(line))
    return bool(words) and all(w.start() > 0 and line[w.start() - 1] == "/" for w in words)


def _key_example(context: CodeSnippet) -> bool:
    """A documented key shape: BEGIN, an elision (``...``, ``<key>``), END within a few lines."""
    following = context.lines[context.target_index :]
    body: list[str] = []
    for text in following[1:]:
        if "-----END" in text:
            return re.search(r"[A-Za-z0-9+/=]{16,}", "".join(body)) is None
        body.append(text)
    return False


@dataclass(frozen=True)
class Candidate:
    plugin: BasePlugin
    secret: PotentialSecret
    line: str
    context: CodeSnippet

    @property
    def value(self) -> str:
        return (self.secret.secret_value or "").strip("'\"`")


_Rule = Callable[[Candidate, str], bool]


def _is(function: Callable[..., bool], *names: str) -> _Rule:
    """One of detect-secrets' filters, called with the arguments it names."""

    def call(candidate: Candidate, filename: str) -> bool:
        given = {
            "secret": candidate.value,
            "line": candidate.line,
            "plugin": candidate.plugin,
            "filename": filename,
            "context": candidate.context,
        }
        return function(**{name: given[name] for name in names})

    return call


# Order matters only for the reason a suppression is counted under: the most telling first.
SECRET_FILTERS: tuple[tuple[str, _Rule], ...] = (
    ("allowlist pragma", _is(allowlist.is_line_allowlisted, "filename", "line", "context")),
    ("template or variable", _is(heuristic.is_templated_secret, "secret")),
    ("template or variable", _is(heuristic.is_prefixed_with_dollar_sign, "secret")),
    ("environment or code reference", _is(heuristic.is_indirect_reference, "line")),
    ("environment or code reference", lambda c, _f: bool(_ENVIRONMENT.search(c.line))),
    ("environment or code reference",
     lambda c, _f: bool(_CODE_REFERENCE.match(c.value))),
    ("Odoo XML attribute", lambda c, f: f.endswith((".xml", ".html"))
     and bool(_XML_ATTRIBUTE.search(c.line)) and c.value.lower() in ("true", "false", "1", "0")),
    ("placeholder", lambda c, _f: _placeholder(c.value, c.line)),
    ("file path", lambda c, _f: _word_in_path(c.line)),
    ("documented key shape",
     lambda c, _f: isinstance(c.plugin, PrivateKeyDetector) and _key_example(c.context)),
    ("sequential string", _is(heuristic.is_sequential_string, "secret")),
    ("UUID", _is(heuristic.is_potential_uuid, "secret")),
    ("identifier", _is(heuristic.is_likely_id_string, "secret", "line", "plugin")),
    ("not alphanumeric", _is(heuristic.is_not_alphanumeric_string, "secret")),
)  # fmt: skip
FILE_FILTERS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("lock file", heuristic.is_lock_file),
    ("Swagger file", heuristic.is_swagger_file),
    ("non-text file", heuristic.is_non_text_file),
)


def file_filtered(filename: str) -> str | None:
    return next((why for why, rule in FILE_FILTERS if rule(filename)), None)


@dataclass(frozen=True)
class Verdict:
    secret: PotentialSecret
    suppressed_by: str | None


def _widen(plugin: BasePlugin, line: str, secret: PotentialSecret) -> None:
    """Some detectors yield only a token's prefix (GitHub's ``ghp``): every such token would
    share one hash and look alike to the filters. Such a short value becomes the whole match."""
    value = secret.secret_value or ""
    if len(value) >= 8 or not isinstance(plugin, RegexBasedDetector):
        return
    for regex in plugin.denylist:
        for match in regex.finditer(line):
            whole = match.group(0).strip()
            if whole.startswith(value) and len(whole) > len(value):
                secret.secret_value = whole
                secret.secret_hash = PotentialSecret.hash_secret(secret.secret_value)
                return


def judge_lines(
    plugins: list[BasePlugin], filename: str, lines: list[str], numbers: list[int]
) -> Iterator[Verdict]:
    """Every secret detectors see on the given lines (1-based numbers into ``lines``), each
    with the filter that suppresses it, if one does; a value found on a line by two detectors
    (whole, or one's value inside the other's) is judged once, under the most precise type."""
    for number in numbers:
        line = lines[number - 1].rstrip()
        context = get_code_snippet(lines, number)
        seen: dict[str, PotentialSecret] = {}
        owner: dict[str, BasePlugin] = {}
        for plugin in plugins:
            for secret in plugin.analyze_line(filename=filename, line=line, line_number=number):
                _widen(plugin, line, secret)
                value = (secret.secret_value or "").strip("'\"`")
                if not any(value in known or known in value for known in seen):
                    seen[value], owner[value] = secret, plugin
        for value, secret in seen.items():
            candidate = Candidate(owner[value], secret, line, context)
            why = next((w for w, rule in SECRET_FILTERS if rule(candidate, filename)), None)
            yield Verdict(secret, why)
