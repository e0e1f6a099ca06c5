"""Backups on a cluster whose templates are not UTF8: copies keep the source's encoding and
locale, or the cluster's refusal is one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from isolation import PrivatePostgres
from odoo_db import make_odoo_db
from test_backup import Env


@pytest.fixture
def c_locale_cluster() -> Iterator[str]:
    """A second cluster, initialised as on a minimal host without a UTF-8 locale: C locale and
    SQL_ASCII templates (on its own loopback port of this test process's namespace)."""
    cluster = PrivatePostgres("5433", ("-E", "SQL_ASCII", "--locale=C"))
    try:
        yield "postgresql://postgres@127.0.0.1:5433/postgres"
    finally:
        cluster.stop()


def test_copies_keep_the_source_encoding_on_a_c_locale_cluster(
    c_locale_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = make_odoo_db(tmp_path, partners=500, files=3, server=c_locale_cluster, encoding="UTF8")
    db.execute("UPDATE res_partner SET name = 'Müller ' || id WHERE id <= 10")
    monkeypatch.setenv("IPAI_TEST_DSN", db.dsn)
    env = Env(tmp_path, db)
    template = "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template0'"
    assert db.query(template, "postgres") == [(b"SQL_ASCII",)]  # bytes: what SQL_ASCII gives
    backup = env.create()
    assert env.manifest(backup)["database_locale"] == {
        "encoding": "UTF8", "collate": "C", "ctype": "C",
    }  # fmt: skip
    proc = env.ipai("verify", backup.name)
    assert proc.returncode == 0, proc.stdout  # every verification failed here before
    copy = f"{db.name}_copy"
    assert env.ipai("restore", backup.name, "--target-db", copy).returncode == 0
    encoding = f"SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '{copy}'"
    assert db.query(encoding, "postgres") == [(b"UTF8",)]
    assert db.query("SELECT count(*) FROM res_partner WHERE name LIKE 'Müller%'", copy) == [(10,)]
    # A locale the cluster cannot provide: one line, nothing created, never a silent copy.
    manifest = env.manifest(backup)
    manifest["database_locale"]["collate"] = "xx_XX.UTF-8"
    (backup / "manifest.json").write_text(json.dumps(manifest))
    proc = env.ipai("restore", backup.name, "--target-db", f"{db.name}_other")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "LC_COLLATE xx_XX.UTF-8" in proc.stderr and "Traceback" not in proc.stderr
    names = db.query("SELECT datname FROM pg_database WHERE datname LIKE '%_other%'", "postgres")
    assert names == []
    proc = env.ipai("verify", backup.name)
    assert proc.returncode == 1 and "LC_COLLATE xx_XX.UTF-8" in proc.stdout
