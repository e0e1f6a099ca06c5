"""The database probe: where the environment's database lives (a DSN held in an environment
variable) and connections to it with timeouts, errors named without the DSN."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config.stack import Environment
from ..core.errors import ConfigError, ToolError

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT = 10
STATEMENT_TIMEOUT_MS = 300_000
DB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Target:
    """Where a database lives; ``password`` never leaves this object except into libpq's env."""

    host: str | None
    port: str | None
    user: str | None
    password: str | None
    dbname: str
    sslmode: str | None = None

    def kwargs(self, dbname: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dbname": dbname or self.dbname,
            "connect_timeout": CONNECT_TIMEOUT,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        }
        for key in ("host", "port", "user", "password", "sslmode"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def libpq_env(self) -> dict[str, str]:
        """Environment for pg_dump / pg_restore: the password travels here, not in argv."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        mapping = {
            "PGHOST": self.host,
            "PGPORT": self.port,
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGSSLMODE": self.sslmode,
        }
        env.update({k: v for k, v in mapping.items() if v})
        env["PGCONNECT_TIMEOUT"] = str(CONNECT_TIMEOUT)
        return env


def target_for(env: Environment) -> Target:
    var = env.raw.get("dsn_env")
    if not var:
        raise ConfigError(f"environments.{env.name}.dsn_env: not set")
    dsn = os.environ.get(var)
    if not dsn:
        raise ConfigError(
            f"environment variable {var} (environments.{env.name}.dsn_env) is not set"
        )
    # psycopg is imported where it is used: commands and suites that never touch a database
    # (ipai --help, the pre-deploy suite) do not pay for loading libpq.
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise ConfigError(f"environment variable {var}: not a valid PostgreSQL DSN") from None
    dbname = env.raw.get("database") or parts.get("dbname")
    if not dbname or not DB_NAME.match(str(dbname)):
        raise ConfigError(f"environments.{env.name}.database: not set (nor a dbname in {var})")
    return Target(
        host=_str(parts.get("host")),
        port=_str(parts.get("port")),
        user=_str(parts.get("user")),
        password=_str(parts.get("password")),
        dbname=str(dbname),
        sslmode=_str(parts.get("sslmode")),
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


@contextmanager
def connect(
    target: Target, dbname: str | None = None, *, autocommit: bool = False
) -> Iterator[psycopg.Connection[Any]]:
    import psycopg

    try:
        conn = psycopg.connect(**target.kwargs(dbname), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        # libpq's message names host and database, never the password.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise ToolError(f"database {dbname or target.dbname}: cannot connect: {first}") from None
    try:
        yield conn
    except psycopg.Error as exc:
        # Name the database and PostgreSQL's own first line; never the DSN.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ToolError(f"database {dbname or target.dbname}: {first}") from None
    finally:
        conn.close()
