"""Database administration for backups and restores: exists, create, drop, rename.

A database the product creates (the scratch copy a verification restores into, a restore's
target) is made like the database it copies: its encoding, LC_COLLATE and LC_CTYPE. The
cluster's template0 may differ (a cluster initialised under the C locale has SQL_ASCII
templates), and a SQL_ASCII copy of a UTF8 database silently stops checking what it stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..core.errors import IpaiError
from ..probes.database import Target, connect


@dataclass(frozen=True)
class DatabaseLocale:
    encoding: str
    collate: str
    ctype: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DatabaseLocale | None:
        if not isinstance(data, dict):
            return None
        return cls(str(data["encoding"]), str(data["collate"]), str(data["ctype"]))

    def describe(self) -> str:
        return f"encoding {self.encoding}, LC_COLLATE {self.collate}, LC_CTYPE {self.ctype}"


def database_locale(target: Target, name: str) -> DatabaseLocale | None:
    """What ``name`` was created with (None when there is no such database)."""
    with connect(target, "postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
            "WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None:
        return None
    # The maintenance database of a C-locale cluster is SQL_ASCII: psycopg hands back bytes.
    return DatabaseLocale(*(v.decode() if isinstance(v, bytes) else str(v) for v in row))


def database_exists(target: Target, name: str) -> bool:
    with connect(target, "postgres", autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def create_database(target: Target, name: str, like: DatabaseLocale | None) -> None:
    """A new database from template0, with ``like``'s encoding and locale when given; a cluster
    that cannot provide them is one line naming what it lacks, and nothing is created."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
    if like is not None:
        statement += sql.SQL(" ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
            sql.Literal(like.encoding), sql.Literal(like.collate), sql.Literal(like.ctype)
        )
    with connect(target, "postgres", autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            wanted = f" with {like.describe()}" if like else ""
            raise IpaiError(f"cannot create database {name}{wanted}: {reason}") from None


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
