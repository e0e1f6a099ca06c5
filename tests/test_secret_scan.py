"""secrets.none_committed on a repository seeded with what a real stack repository holds: the
secrets it used to miss are found, the noise it used to report is not, each by file and line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import run_suite
from gitrepo import GIT, commit_all, make_repo

from pytest_ipai.rules.hygiene import committed_secrets, history_secrets, scan_secrets

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
}
EXPECTED = {
    (".env.production", 1, "assigned_secret"),
    ("deploy/.env", 1, "assigned_secret"),
    ("deploy/.env", 2, "assigned_secret"),
    ("deploy/.env", 3, "assigned_secret"),
    ("deploy/.env", 4, "assigned_secret"),
    ("config/app.yaml", 3, "assigned_secret"),
    ("docker-compose.prod.yml", 4, "assigned_secret"),
    ("odoo.conf", 2, "assigned_secret"),
}


def test_the_real_secrets_and_only_them(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {**REAL, **NOISE})
    found = {(h.file, h.line, h.what) for h in committed_secrets(repo, [])}
    assert found == EXPECTED


def test_a_configured_secret_committed_verbatim(tmp_path: Path) -> None:
    value = 'Qz"7\\pä-verbatim'  # as a program would write it: JSON-escaped, in a JSON file
    repo = make_repo(tmp_path / "stack", {"notes.json": '{"note": "Qz\\"7\\\\p\\u00e4-verbatim"}\n',
                                      "plain.txt": f"reminder {value}\n"})  # fmt: skip
    found = {(h.file, h.line, h.what) for h in committed_secrets(repo, [], [value])}
    assert found == {("notes.json", 1, "configured_secret"), ("plain.txt", 1, "configured_secret")}


def test_the_gate_names_them_without_their_values(demo_stack: Path) -> None:
    for name, text in REAL.items():
        path = demo_stack / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (demo_stack / "notes.txt").write_text("admin pw is demo-Admin-Pw-1\n")
    commit_all(demo_stack, "leak")
    os.environ["DEMO_ADMIN_PASSWD"] = "demo-Admin-Pw-1"
    try:
        result = run_suite(demo_stack, "predeploy")[1]["secrets.none_committed"]
    finally:
        del os.environ["DEMO_ADMIN_PASSWD"]
    assert (result["status"], result["error_class"]) == ("fail", "secret_committed")
    assert "notes.txt:1 (configured_secret)" in result["message"]
    assert "deploy/.env:2 (assigned_secret)" in result["message"]
    for value in ("Pg-Pr0d-2026-pooler", "M4ster-Prod-Pw", "Smtp-Relay-77", "demo-Admin-Pw-1"):
        assert value not in str(result)


def test_suppressed_lines_are_counted_and_an_empty_repository_is_no_pass(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {
        "fixtures/.env": "DB_PASSWORD=fixture-Pw-123\n",
        "tests/conftest.py": "API_KEY = 'test-key-123456'  # pragma: allowlist secret\n",
        "deploy/.env": "DB_PASSWORD=db-Pr0d-Secret\n",
    })  # fmt: skip
    scan = scan_secrets(repo, ["fixtures/*"])
    assert [(h.file, h.line) for h in scan.hits] == [("deploy/.env", 1)]
    assert scan.files_tracked == 3
    assert scan.suppressed == {"ignore_paths": 1, "allowlist_pragma": 1}
    empty = make_repo(tmp_path / "empty", {})
    assert scan_secrets(empty, []).files_tracked == 0


def test_a_secret_removed_from_the_tree_is_still_in_the_history(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {"deploy/.env": "DEBUG=0\nDB_PASSWORD=db-Pr0d-Secret\n"})
    commit_all(repo, "leak")
    leaked = subprocess.run([*GIT, "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True, timeout=60).stdout.strip()  # fmt: skip
    (repo / "deploy" / ".env").write_text("DEBUG=0\nDB_PASSWORD=${DB_PASSWORD}\n")
    commit_all(repo, "fix")
    assert scan_secrets(repo, []).hits == []
    (hit,) = history_secrets(repo, [])
    assert (hit.file, hit.line, hit.what) == (
        "deploy/.env",
        2,
        f"assigned_secret, added in {leaked[:12]}",
    )
    assert history_secrets(repo, ["deploy/*"]) == []


def test_of_a_configured_dsn_only_its_password_is_a_secret(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "stack", {
        "compose.yaml": "environment:\n  DSN: postgresql://odoo@db:5432/prod\n",
        "notes.txt": "the pooler wants Pool-Pw-2026x\n",
    })  # fmt: skip
    assert committed_secrets(repo, [], ["postgresql://odoo@db:5432/prod"]) == []
    with_password = "postgresql://odoo:Pool-Pw-2026x@db:5432/prod"
    found = {(h.file, h.line, h.what) for h in committed_secrets(repo, [], [with_password])}
    assert found == {("notes.txt", 1, "configured_secret")}
