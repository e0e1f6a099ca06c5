"""Backup create + verify against plain pg_dump -Fc + pg_restore (issue: backup and restore).

    .venv/bin/python bench/bench_backup.py [--gb 1.0]

Builds an Odoo-shaped database of about GB gigabytes in the local PostgreSQL (127.0.0.1:5432,
role postgres), then, in this one run: ``ipai backup create`` + ``ipai backup verify`` (which
restores into a scratch database) against ``pg_dump -Fc`` + ``createdb`` + ``pg_restore`` +
``dropdb`` of the same database. Prints both and the ratio (goal: at most 1.3x). Drops what it
made. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from odoo_db import ADMIN_DSN, drop_test_databases, make_odoo_db

ROW_BYTES = 1000


def grow(dbname: str, gigabytes: float) -> None:
    rows = int(gigabytes * 1e9 / ROW_BYTES)
    with psycopg.connect(ADMIN_DSN, dbname=dbname, autocommit=True) as conn:
        for start in range(0, rows, 250_000):
            conn.execute(
                "INSERT INTO res_partner (name, email, comment, company_id) "
                "SELECT 'Bulk ' || i, 'b' || i || '@example.invalid', "
                "(SELECT string_agg(md5(i::text || '-' || j), '') FROM generate_series(1, 30) j), 1 "
                "FROM generate_series(%s, %s) AS i",
                (start, min(rows, start + 250_000) - 1),
            )
        conn.execute("VACUUM ANALYZE res_partner")
        size = conn.execute(
            sql.SQL("SELECT pg_database_size({})").format(sql.Literal(dbname))
        ).fetchone()[0]
    print(f"database {dbname}: {size / 1e9:.2f} GB")


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=7200, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed: {proc.stderr[-1000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipai-bench-backup-") as tmp:
        base = Path(tmp)
        db = make_odoo_db(base, partners=1000, files=200)
        try:
            grow(db.name, args.gb)
            (base / "addons.json").write_text('{"version": 1, "oca_repositories": []}')
            config = base / "ipai.toml"
            config.write_text(
                f'[stack]\naddons_manifest = "addons.json"\n[environments.bench]\n'
                f'database = "{db.name}"\ndsn_env = "IPAI_BENCH_DSN"\nbackup_root = "backups"\n'
                f'filestore = "{db.filestore}"\n'
            )
            env = dict(os.environ, IPAI_BENCH_DSN=db.dsn)
            ipai = os.path.join(os.path.dirname(sys.executable), "ipai")
            t0 = time.perf_counter()
            proc = subprocess.run(
                [ipai, "backup", "create", "--config", str(config)],
                env=env,
                capture_output=True,
                text=True,
                timeout=7200,
                check=True,
            )
            backup_id = Path(proc.stdout.strip()).name
            created = time.perf_counter() - t0
            verified = timed([ipai, "backup", "verify", backup_id, "--config", str(config)], env)
            pg_env = dict(os.environ, PGHOST="127.0.0.1", PGUSER="postgres")
            dump = base / "plain.dump"
            plain_dump = timed(["pg_dump", "-Fc", "-f", str(dump), "-d", db.name], pg_env)
            scratch = f"{db.name}_plain"
            plain_restore = timed(["createdb", scratch], pg_env)
            restore = ["pg_restore", "--no-owner", "--exit-on-error", "-d", scratch, str(dump)]
            plain_restore += timed(restore, pg_env)
            plain_restore += timed(["dropdb", scratch], pg_env)
            ours = created + verified
            plain = plain_dump + plain_restore
            print(f"ipai backup create {created:7.1f}s + verify {verified:7.1f}s = {ours:7.1f}s")
            print(
                f"pg_dump -Fc        {plain_dump:7.1f}s + restore {plain_restore:6.1f}s = {plain:7.1f}s"
            )
            print(f"ratio {ours / plain:4.2f}  (goal <= 1.30)")
        finally:
            drop_test_databases(db.name)


if __name__ == "__main__":
    main()
