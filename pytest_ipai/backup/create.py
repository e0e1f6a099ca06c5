"""``ipai backup create``: a consistent pg_dump and filestore archive, with a manifest."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import tarfile
from pathlib import Path
from typing import Any

from psycopg import sql

from ..core.errors import IpaiError, ToolError
from ..core.fsio import dump_json, fsync_dir, sync_tree
from ..core.proc import run
from ..core.timeutil import iso, utc_now
from ..probes.database import Target, connect
from .store import KEY_TABLES, MANIFEST, env_dir

DUMP = "db.dump"
FILESTORE = "filestore.tar"
PG_DUMP_TIMEOUT = 4 * 3600.0


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def scalar(conn: Any, query: Any) -> Any:
    row = conn.execute(query).fetchone()
    if row is None:
        raise ToolError(f"query returned no row: {query}")
    return row[0]


def snapshot_facts(conn: Any) -> dict[str, Any]:
    """Series, installed module versions and key row counts, read in the dump's snapshot."""
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    counts = {}
    for table in KEY_TABLES:
        if table in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            counts[table] = scalar(conn, query)
    modules: dict[str, str | None] = {}
    series = None
    if "ir_module_module" in tables:
        installed = "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'"
        for name, version in conn.execute(installed + " ORDER BY name"):
            modules[name] = version
        base = modules.get("base")
        if base:
            series = ".".join(base.split(".")[:2])
    return {"row_counts": counts, "modules": modules, "series": series}


def archive_filestore(source: Path | None, target: Path) -> dict[str, Any]:
    """A tar of the filestore (members relative to it); an absent filestore is an empty archive."""
    files = total = 0
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        if source is not None and source.is_dir():
            for folder, dirs, names in os.walk(source):
                dirs.sort()
                for name in sorted(names):
                    path = Path(folder) / name
                    if path.is_symlink() or not path.is_file():
                        continue
                    tar.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)
                    files += 1
                    total += path.stat().st_size
    return {"files": files, "bytes": total, "path": str(source) if source else None}


def pg_dump_argv(target: Target, snapshot: str, output: Path) -> list[str]:
    """The pg_dump command: names only; the password reaches libpq through the environment."""
    return [
        "pg_dump",
        "--format=custom",
        f"--snapshot={snapshot}",
        "--no-password",
        f"--file={output}",
        f"--dbname={target.dbname}",
    ]


def tool_failure(proc: Any) -> str:
    """Why a PostgreSQL tool failed: its last error line, or the signal that killed it."""
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        hint = " (file size limit reached: no space left)" if name == "SIGXFSZ" else ""
        return f"killed by {name}{hint}"
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"


def pg_tool_version(tool: str) -> str:
    return run([tool, "--version"], timeout=30).stdout.strip()


def create_backup(
    root: Path, env_name: str, target: Target, filestore: Path | None, deploy_sha: str | None = None
) -> Path:
    started = utc_now()
    backup_id = f"{started:%Y%m%dT%H%M%SZ}"
    folder = env_dir(root, env_name)
    final = folder / backup_id
    suffix = 1
    while final.exists():
        suffix += 1
        final = folder / f"{backup_id}-{suffix}"
    # Callers hold the environment's lock, so any staging folder left is from a run that died.
    for stale in (folder / ".staging").glob("*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = folder / ".staging" / final.name
    staging.mkdir(parents=True)
    try:
        with connect(target) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = scalar(conn, "SELECT pg_export_snapshot()")
            facts = snapshot_facts(conn)
            server = scalar(conn, "SHOW server_version")
            locale = conn.execute(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                "WHERE datname = current_database()"
            ).fetchone()
            # The snapshot lives while this transaction is open: pg_dump sees exactly it.
            proc = run(
                pg_dump_argv(target, snapshot, staging / DUMP),
                timeout=PG_DUMP_TIMEOUT,
                env=target.libpq_env(),
            )
            if proc.returncode != 0:
                raise ToolError(f"pg_dump of {target.dbname} failed: {tool_failure(proc)}")
            conn.rollback()
        store = archive_filestore(filestore, staging / FILESTORE)
        manifest = {
            "schema": "ipai/backup/1",
            "id": final.name,
            "env": env_name,
            "database": target.dbname,
            "series": facts["series"],
            "modules": facts["modules"],
            "row_counts": facts["row_counts"],
            "filestore": store,
            "files": {name: file_digest(staging / name) for name in (DUMP, FILESTORE)},
            "pg_dump_version": pg_tool_version("pg_dump"),
            "server_version": server,
            # what a verification's scratch copy and a restore are created with
            "database_locale": dict(zip(("encoding", "collate", "ctype"), locale, strict=True))
            if locale
            else None,
            "deploy_sha": deploy_sha,
            "started_at": iso(started),
            "finished_at": iso(utc_now()),
        }
        (staging / MANIFEST).write_bytes(dump_json(manifest))
        sync_tree(staging)
        os.rename(staging, final)
        fsync_dir(folder)
        return final
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise IpaiError(
                f"backup of {target.dbname} failed: no space left ({exc.strerror}); nothing kept"
            ) from None
        raise IpaiError(f"backup of {target.dbname} failed: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
