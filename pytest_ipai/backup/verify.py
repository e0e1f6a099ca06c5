"""``ipai backup verify``: verified means restored. Checksums, ``pg_restore --list``, a real
restore into a scratch database with row counts compared, the filestore archive read through;
the scratch database is dropped whatever happens. The outcome is recorded with the backup."""

from __future__ import annotations

import secrets
import tarfile
from pathlib import Path
from typing import Any

from psycopg import sql

from ..core.errors import IpaiError
from ..core.fsio import write_json_atomic
from ..core.proc import run
from ..core.timeutil import iso, utc_now
from ..probes.database import Target, connect
from .create import DUMP, FILESTORE, PG_DUMP_TIMEOUT, file_digest, scalar, tool_failure
from .pg import DatabaseLocale, create_database, database_locale, drop_database
from .store import VERIFICATION, Backup


def checksum_problems(backup: Backup) -> list[str]:
    problems = []
    for name, expected in backup.manifest["files"].items():
        path = backup.path / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        actual = file_digest(path)
        if actual["size"] != expected["size"]:
            problems.append(f"{name}: size {actual['size']}, recorded {expected['size']}")
        elif actual["sha256"] != expected["sha256"]:
            problems.append(f"{name}: checksum mismatch")
    return problems


def filestore_problems(backup: Backup) -> list[str]:
    recorded = backup.manifest["filestore"]
    files = total = 0
    try:
        with tarfile.open(backup.path / FILESTORE, "r:") as tar:
            for member in tar:
                if member.isfile():
                    files += 1
                    total += member.size
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        while extracted.read(1 << 20):
                            pass
    except (tarfile.TarError, OSError, EOFError) as exc:
        return [f"{FILESTORE}: unreadable ({type(exc).__name__}: {exc})"]
    problems = []
    if files != recorded["files"]:
        problems.append(f"{FILESTORE}: {files} files, recorded {recorded['files']}")
    if total != recorded["bytes"]:
        problems.append(f"{FILESTORE}: {total} bytes, recorded {recorded['bytes']}")
    return problems


def restore_dump(dump: Path, target: Target, dbname: str) -> str | None:
    """pg_restore into ``dbname`` (which exists); the error, or None."""
    proc = run(
        [
            "pg_restore",
            "--no-password",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={dbname}",
            str(dump),
        ],
        timeout=PG_DUMP_TIMEOUT,
        env=target.libpq_env(),
    )
    return tool_failure(proc) if proc.returncode != 0 else None


def count_problems(backup: Backup, target: Target, dbname: str) -> list[str]:
    problems = []
    with connect(target, dbname) as conn:
        for table, expected in backup.manifest["row_counts"].items():
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            actual = scalar(conn, query)
            if actual != expected:
                problems.append(f"{table}: {actual} rows restored, {expected} at backup time")
        if backup.manifest["modules"]:
            rows = conn.execute(
                "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'"
            ).fetchall()
            if dict(rows) != backup.manifest["modules"]:
                problems.append("ir_module_module: installed modules differ from the manifest")
    return problems


def source_locale(backup: Backup, target: Target) -> DatabaseLocale | None:
    """The encoding and locale a copy of the backup's database must have: as recorded at backup
    time, else (a backup from before they were recorded) the live database's, if it exists."""
    recorded = DatabaseLocale.from_dict(backup.manifest.get("database_locale"))
    return recorded or database_locale(target, target.dbname)


def verify_backup(backup: Backup, target: Target) -> dict[str, Any]:
    reasons = checksum_problems(backup)
    if not reasons:
        listing = run(["pg_restore", "--list", str(backup.path / DUMP)], timeout=600)
        if listing.returncode != 0:
            reasons.append(f"{DUMP}: pg_restore --list failed: {tool_failure(listing)}")
    if not reasons:
        scratch = f"ipai_verify_{target.dbname[:36]}_{secrets.token_hex(6)}"
        try:
            like = source_locale(backup, target)
            create_database(target, scratch, like)
            error = restore_dump(backup.path / DUMP, target, scratch)
            if error:
                reasons.append(f"{DUMP}: restore failed: {error}")
            else:
                reasons += count_problems(backup, target, scratch)
                made = database_locale(target, scratch)
                if like is not None and made != like:
                    got = made.describe() if made else "nothing"
                    reasons.append(f"scratch copy has {got}, the source {like.describe()}")
        except IpaiError as exc:
            reasons.append(exc.message)
        finally:
            try:
                drop_database(target, scratch)
            except IpaiError as exc:
                reasons.append(f"scratch database {scratch} could not be dropped: {exc.message}")
        reasons += filestore_problems(backup)
    outcome = {
        "verified_at": iso(utc_now()),
        "result": "failed" if reasons else "verified",
        "reasons": reasons,
        "backup": backup.id,
    }
    write_json_atomic(backup.path / VERIFICATION, outcome)
    return outcome
