"""Database administration for backups and restores: exists, create, drop, rename."""

from __future__ import annotations

from psycopg import sql

from ..probes.database import Target, connect


def database_exists(target: Target, name: str) -> bool:
    with connect(target, "postgres", autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def create_database(target: Target, name: str) -> None:
    with connect(target, "postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(target: Target, name: str) -> None:
    with connect(target, "postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def rename_database(target: Target, old: str, new: str) -> None:
    with connect(target, "postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(old), sql.Identifier(new)
            )
        )
