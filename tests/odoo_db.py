"""An Odoo-shaped database in the real PostgreSQL, with generated data and a filestore."""

from __future__ import annotations

import hashlib
import os
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

ADMIN_DSN = os.environ.get("IPAI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

SCHEMA = """
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE,
  state varchar(16), latest_version varchar, author varchar, summary jsonb,
  create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE res_company (id serial PRIMARY KEY, name jsonb);
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, street varchar,
  comment text, active boolean DEFAULT true, company_id int REFERENCES res_company(id));
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar UNIQUE NOT NULL,
  partner_id int REFERENCES res_partner(id), active boolean DEFAULT true, password varchar);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, store_fname varchar,
  file_size int, checksum varchar(40), mimetype varchar, res_model varchar, res_id int);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text);
CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar, name varchar, model varchar,
  res_id int);
CREATE TABLE ir_cron (id serial PRIMARY KEY, cron_name varchar, active boolean, interval_number int);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar, smtp_host varchar, active boolean);
CREATE TABLE fetchmail_server (id serial PRIMARY KEY, name varchar, active boolean);
"""

MODULES = [
    ("base", "installed", "18.0.1.3"),
    ("web", "installed", "18.0.1.0"),
    ("mail", "installed", "18.0.1.15"),
    ("queue_job", "installed", "18.0.2.1.0"),
    ("ipai_core", "installed", "18.0.1.0.0"),
    ("account", "uninstalled", None),
    ("web_studio", "uninstallable", None),
]


def admin(dbname: str = "postgres", server: str = ADMIN_DSN) -> psycopg.Connection:
    return psycopg.connect(server, dbname=dbname, autocommit=True, connect_timeout=10)


@dataclass
class OdooDb:
    name: str
    filestore: Path
    dsn: str
    server: str = ADMIN_DSN

    def execute(self, statement: str) -> None:
        with admin(self.name, self.server) as conn:
            conn.execute(statement)

    def query(self, statement: str, dbname: str | None = None) -> list[tuple]:
        with admin(dbname or self.name, self.server) as conn:
            return conn.execute(statement).fetchall()


def make_odoo_db(
    base: Path,
    partners: int = 60_000,
    files: int = 200,
    server: str = ADMIN_DSN,
    encoding: str | None = None,
) -> OdooDb:
    """An Odoo-shaped database on ``server`` (the machine's PostgreSQL unless told), in the
    cluster's default encoding or ``encoding``."""
    name = f"ipai_test_{secrets.token_hex(4)}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if encoding:
        create += sql.SQL(" ENCODING {} TEMPLATE template0").format(sql.Literal(encoding))
    with admin(server=server) as conn:
        conn.execute(create)
    filestore = base / "filestore" / name
    with admin(name, server) as conn:
        conn.execute(SCHEMA)
        conn.execute('INSERT INTO res_company (name) VALUES (\'{"en_US": "Demo"}\')')
        for module, state, version in MODULES:
            conn.execute(
                "INSERT INTO ir_module_module (name, state, latest_version, author) "
                "VALUES (%s, %s, %s, 'Odoo S.A.')",
                (module, state, version),
            )
        conn.execute(
            "INSERT INTO res_partner (name, email, street, comment, company_id) "
            "SELECT 'Partner ' || i, 'p' || i || '@example.invalid', i || ' Main Street', "
            "repeat(md5(i::text), 9), 1 FROM generate_series(1, %s) AS i",
            (partners,),
        )
        conn.execute(
            "INSERT INTO res_users (login, partner_id, password) "
            "SELECT 'user' || i, i, 'pbkdf2-placeholder' FROM generate_series(1, 50) AS i"
        )
        conn.execute(
            "INSERT INTO ir_config_parameter (key, value) VALUES "
            "('database.uuid', 'x'), ('web.base.url', 'http://127.0.0.1:8069')"
        )
        conn.execute(
            "INSERT INTO ir_cron (cron_name, active, interval_number) VALUES "
            "('Base: Auto-vacuum internal data', true, 1), ('Mail: send queue', true, 1), "
            "('Queue: runner', true, 5)"
        )
        conn.execute(
            "INSERT INTO ir_model_data (module, name, model, res_id) VALUES "
            "('base', 'autovacuum_job', 'ir.cron', 1)"
        )
        conn.execute(
            "INSERT INTO ir_mail_server (name, smtp_host, active) VALUES ('out', 'smtp.example.invalid', true)"
        )
        conn.execute("INSERT INTO fetchmail_server (name, active) VALUES ('in', true)")
        rng = random.Random(name)
        for i in range(files):
            data = rng.randbytes(rng.randint(2_000, 40_000))
            digest = hashlib.sha1(data).hexdigest()
            path = filestore / digest[:2] / digest
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            conn.execute(
                "INSERT INTO ir_attachment (name, store_fname, file_size, checksum, "
                "mimetype, res_model, res_id) VALUES (%s, %s, %s, %s, 'application/octet-stream', "
                "'res.partner', %s)",
                (f"file{i}.bin", f"{digest[:2]}/{digest}", len(data), digest, i + 1),
            )
    dsn = server.rsplit("/", 1)[0] + f"/{name}"
    return OdooDb(name, filestore, dsn, server)


def drop_test_databases(prefix: str) -> None:
    with admin() as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)
            )
        ]
        for db in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db))
            )


def fingerprint(dbname: str) -> tuple:
    """What a restore must reproduce: counts and a digest of the partner rows."""
    with admin(dbname) as conn:
        partners = conn.execute(
            "SELECT count(*), md5(string_agg(name || email || comment, ',' ORDER BY id)) FROM res_partner"
        ).fetchone()
        users = conn.execute("SELECT count(*) FROM res_users").fetchone()
        modules = conn.execute(
            "SELECT name, state, latest_version FROM ir_module_module ORDER BY name"
        ).fetchall()
    return partners, users, tuple(modules)
