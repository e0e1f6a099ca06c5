"""secrets.none_committed on a repository seeded with what a real stack repository holds: the
secrets it used to miss are found, the noise it used to report is not, each by file and line,
judged by detect-secrets' detectors and filters plus ours."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import run_suite
from detect_secrets.plugins.base import RegexBasedDetector
from gitrepo import GIT, commit_all, make_repo
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ipai.rules.secret_detectors import detectors, prefilter_patterns
from pytest_ipai.rules.secret_scan import SecretScan, history_secrets, scan_secrets

REAL = {
    ".env.production": "POSTGRES_PASSWORD=Pg-Pr0d-2026-pooler\nDEBUG=0\n",
    "deploy/.env": "DB_PASSWORD=db-Pr0d-Secret\nODOO_ADMIN_PASSWD=M4ster-Prod-Pw\n"
    "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9Qk3\nMY_API_KEY=ak_live_9f8e7d6c5b\n",
    "config/app.yaml": "smtp:\n  host: mail\n  password: Smtp-Relay-77\n",
    "docker-compose.prod.yml": "services:\n  db:\n    environment:\n      - POSTGRES_PASSWORD=pg-C0mpose-9\n",
    "odoo.conf": "[options]\ndb_password = odoo\n",
}
NOISE = {
    ".env.example": "POSTGRES_PASSWORD=PASSWORD\nGITHUB_TOKEN=ghp_" + "x" * 36 + "\n",
    "docs/keys.md": "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n",
    "docker-compose.yml": "services:\n  odoo:\n    environment:\n"
    "      - DSN=postgres://odoo:${DB_PASSWORD}@db/odoo\n      - DB_PASSWORD=${DB_PASSWORD}\n",
    "addons/ipai_x/views/res_users.xml": '<odoo><field name="token" password="True"/></odoo>\n',
    "addons/ipai_x/models/api.py": "api_key = os.getenv('IPAI_API_KEY')\n"
    "password = self.env.user.password\n",
    "data/users.csv": "id,name,password_hint\n1,a,none\n",
    "deploy/compose.yaml": "services:\n  odoo:\n    volumes:\n      - /etc/passwd:/etc/passwd:ro\n",
}
EXPECTED = {
    (".env.production", 1, "Assigned Secret"),
    ("deploy/.env", 1, "Assigned Secret"),
    ("deploy/.env", 2, "Assigned Secret"),
    ("deploy/.env", 3, "Assigned Secret"),
    ("deploy/.env", 4, "Assigned Secret"),
    ("config/app.yaml", 3, "Secret Keyword"),
    ("docker-compose.prod.yml", 4, "Secret Keyword"),
    ("odoo.conf", 2, "Secret Keyword"),
}
# Why each piece of noise is let through: every suppression is counted under its reason.
NOISE_REASONS = {
    (".env.example", 1, "placeholder"),
    (".env.example", 2, "placeholder"),
    ("docs/keys.md", 1, "documented key shape"),
    ("docker-compose.yml", 4, "template or variable"),
    ("addons/ipai_x/views/res_users.xml", 1, "Odoo XML attribute"),
    ("addons/ipai_x/models/api.py", 1, "environment or code reference"),
    ("addons/ipai_x/models/api.py", 2, "environment or code reference"),
    ("deploy/compose.yaml", 4, "file path"),
}


def _found(scan: SecretScan) -> set[tuple[str, int, str]]:
    return {(f.file, f.line, f.what) for f in scan.findings}


def test_the_real_secrets_and_only_them(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {**REAL, **NOISE})
    scan = scan_secrets(repo, [])
    assert _found(scan) == EXPECTED
    assert set(scan.suppressed) == NOISE_REASONS
    assert (scan.files_tracked, scan.files_scanned) == (len(REAL) + len(NOISE),) * 2


def test_a_configured_secret_committed_verbatim(tmp_path: Path) -> None:
    value = 'Qz"7\\pä-verbatim'  # as a program would write it: JSON-escaped, in a JSON file
    repo = make_repo(tmp_path / "stack", {"notes.json": '{"note": "Qz\\"7\\\\p\\u00e4-verbatim"}\n',
                                      "plain.txt": f"reminder {value}\n"})  # fmt: skip
    found = _found(scan_secrets(repo, [], [value]))
    assert found == {("notes.json", 1, "Configured Secret"), ("plain.txt", 1, "Configured Secret")}


def test_the_gate_names_them_grouped_real_first_without_their_values(demo_stack: Path) -> None:
    for name, text in REAL.items():
        path = demo_stack / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for place in ("notes.txt", "docs/ops.md", "scripts/backup.cfg"):  # one value, three places
        (demo_stack / place).parent.mkdir(parents=True, exist_ok=True)
        (demo_stack / place).write_text("admin pw is demo-Admin-Pw-1\n")
    (demo_stack / ".env.example").write_text("DB_PASSWORD=CHANGE_ME_IN_PRODUCTION\n")
    commit_all(demo_stack, "leak")
    os.environ["DEMO_ADMIN_PASSWD"] = "demo-Admin-Pw-1"
    try:
        result = run_suite(demo_stack, "predeploy")[1]["secrets.none_committed"]
    finally:
        del os.environ["DEMO_ADMIN_PASSWD"]
    assert (result["status"], result["error_class"]) == ("fail", "secret_committed")
    message = result["message"]
    assert message.startswith("11 secret(s) committed, 9 distinct: Configured Secret at docs/ops.md:1"
                              " (the same value in 2 more place(s): notes.txt:1, scripts/backup.cfg:1)")  # fmt: skip
    assert "Assigned Secret at deploy/.env:2" in message
    assert message.endswith("; suppressed: 1 placeholder")
    measured = result["measurements"]
    assert measured["findings"] == 11 and measured["suppressed"] == {"placeholder": 1}
    skipped = sum(measured["files_skipped"].values())
    assert measured["files_scanned"] + skipped == measured["files_tracked"] > 0
    for value in ("Pg-Pr0d-2026-pooler", "M4ster-Prod-Pw", "Smtp-Relay-77", "demo-Admin-Pw-1"):
        assert value not in str(result)


def test_suppressed_lines_are_counted_and_nothing_scanned_is_no_pass(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {
        "fixtures/.env": "DB_PASSWORD=fixture-Pw-123\n",
        "tests/conftest.py": "API_KEY = 'test-key-123456'  # pragma: allowlist secret\n",
        "deploy/.env": "DB_PASSWORD=db-Pr0d-Secret\n",
    })  # fmt: skip
    scan = scan_secrets(repo, ["fixtures/*"])
    assert [(f.file, f.line) for f in scan.findings] == [("deploy/.env", 1)]
    assert (scan.files_tracked, scan.files_scanned) == (3, 3)
    assert scan.suppressed_counts() == {"allowlist pragma": 1, "ignore_paths": 1}
    empty = make_repo(tmp_path / "empty", {})
    assert scan_secrets(empty, []).files_scanned == 0
    binary = make_repo(tmp_path / "binary", {})
    (binary / "logo.png").write_bytes(b"\x89PNG\0\0DB_PASSWORD=hidden-in-binary")
    (binary / "__init__.py").write_text("")  # empty: nothing to scan, and not binary
    os.symlink("/dev/zero", binary / "zero")  # a tracked symlink is never followed
    commit_all(binary)
    scan = scan_secrets(binary, [])
    assert (scan.files_tracked, scan.files_scanned) == (3, 0)
    assert scan.skipped == {"binary": 1, "empty": 1, "symlink": 1}


def test_the_gate_errors_when_nothing_was_scanned(demo_stack: Path) -> None:
    tracked = subprocess.run([*GIT, "-C", str(demo_stack), "ls-files", "-z"], check=True,
                             capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    names = [n for n in tracked.split("\0") if n]
    subprocess.run([*GIT, "-C", str(demo_stack), "rm", "-q", "--cached", *names], check=True,
                   timeout=60)  # fmt: skip
    (demo_stack / ".gitignore").write_text("*\n")  # the tree stays, git tracks nothing
    result = run_suite(demo_stack, "predeploy")[1]["secrets.none_committed"]
    assert (result["status"], result["error_class"]) == ("error", "nothing_scanned")


def test_a_secret_removed_from_the_tree_is_still_in_the_history(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {"deploy/.env": "DEBUG=0\nDB_PASSWORD=db-Pr0d-Secret\n"})
    commit_all(repo, "leak")
    leaked = subprocess.run([*GIT, "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True, timeout=60).stdout.strip()  # fmt: skip
    (repo / "deploy" / ".env").write_text("DEBUG=0\nDB_PASSWORD=${DB_PASSWORD}\n")
    commit_all(repo, "fix")
    assert scan_secrets(repo, []).findings == []
    scan = history_secrets(repo, [])
    assert _found(scan) == {("deploy/.env", 2, f"Assigned Secret, added in {leaked[:12]}")}
    assert history_secrets(repo, ["deploy/*"]).findings == []


def test_of_a_configured_dsn_only_its_password_is_a_secret(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {
        "compose.yaml": "environment:\n  DSN: postgresql://odoo@db:5432/prod\n",
        "notes.txt": "the pooler wants Pool-Pw-2026x\n",
    })  # fmt: skip
    assert scan_secrets(repo, [], ["postgresql://odoo@db:5432/prod"]).findings == []
    with_password = "postgresql://odoo:Pool-Pw-2026x@db:5432/prod"
    found = _found(scan_secrets(repo, [], [with_password]))
    assert found == {("notes.txt", 1, "Configured Secret")}


def _detector_patterns() -> list[tuple[str, re.Pattern[str]]]:
    return [
        (type(plugin).__name__, regex)
        for plugin in detectors()
        if isinstance(plugin, RegexBasedDetector)
        for regex in plugin.denylist
    ]


@pytest.mark.parametrize(("detector", "regex"), _detector_patterns(), ids=lambda v: str(v)[:24])
def test_the_prefilter_lets_through_every_line_a_detector_matches(
    detector: str, regex: re.Pattern[str]
) -> None:
    """git grep only hands over lines the combined prefilter matches: for strings generated
    from each detector's own pattern, inside arbitrary text, the prefilter must match too."""
    prefilter = re.compile("|".join(prefilter_patterns(detectors())))

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(st.from_regex(regex))
    def check(line: str) -> None:
        if regex.search(line):
            assert prefilter.search(line), (detector, line)

    check()
