"""``ipai backup restore``: database and filestore together, never over an existing database
unless forced (and then only after backing it up), never changing the backup it reads."""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from ..core.errors import IpaiError
from ..probes.database import DB_NAME, Target, connect
from .create import DUMP, FILESTORE
from .pg import create_database, database_exists, database_locale, drop_database, rename_database
from .store import Backup
from .verify import checksum_problems, restore_dump, source_locale

NEUTRALIZE = (
    # Crons off, except the garbage collector Odoo itself needs.
    "UPDATE ir_cron SET active = false WHERE id NOT IN ("
    " SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND module = 'base'"
    " AND name = 'autovacuum_job')",
    "UPDATE ir_mail_server SET active = false",
    "INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')"
    " ON CONFLICT (key) DO UPDATE SET value = 'true'",
)
NEUTRALIZE_IF_TABLE = {"fetchmail_server": "UPDATE fetchmail_server SET active = false"}


def neutralize(target: Target, dbname: str) -> list[str]:
    done = []
    with connect(target, dbname) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        for statement in NEUTRALIZE:
            table = (
                statement.split()[1] if statement.startswith("UPDATE") else "ir_config_parameter"
            )
            if table in tables:
                conn.execute(statement)
                done.append(table)
        for table, statement in NEUTRALIZE_IF_TABLE.items():
            if table in tables:
                conn.execute(statement)
                done.append(table)
        conn.commit()
    return done


def extract_filestore(archive: Path, destination: Path) -> None:
    """Extract into a fresh folder beside ``destination``, then swap it in."""
    staging = destination.with_name(destination.name + ".ipai-restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:") as tar:
            tar.extractall(staging, filter="data")  # no absolute paths, no .., no devices
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise IpaiError(f"{archive}: cannot extract the filestore: {exc}") from None
    old = destination.with_name(destination.name + ".ipai-replaced")
    shutil.rmtree(old, ignore_errors=True)
    if destination.exists():
        destination.rename(old)
    staging.rename(destination)
    shutil.rmtree(old, ignore_errors=True)


def restore_backup(
    backup: Backup,
    target: Target,
    dbname: str,
    filestore: Path | None,
    *,
    force: bool,
    do_neutralize: bool,
    backup_existing: Callable[[str], Path],
) -> list[str]:
    """Restore; returns what was done, one line each. ``backup_existing(dbname)`` is called to
    back up a database about to be replaced."""
    if not DB_NAME.match(dbname):
        raise IpaiError(f"--target-db {dbname!r}: not a valid database name")
    problems = checksum_problems(backup)
    if problems:
        raise IpaiError(
            f"backup {backup.id} does not match its checksums ({problems[0]}); not restored"
        )
    steps = []
    exists = database_exists(target, dbname)
    if exists and not force:
        raise IpaiError(f"database {dbname} exists; --force backs it up first and then replaces it")
    if exists:
        saved = backup_existing(dbname)
        steps.append(f"backed up the existing {dbname} to {saved}")
    restoring = f"{dbname}_ipai_restoring"
    drop_database(target, restoring)
    like = source_locale(backup, target) or (database_locale(target, dbname) if exists else None)
    create_database(target, restoring, like)
    if like is None:
        steps.append("encoding and locale: the cluster's defaults (none recorded or known)")
    error = restore_dump(backup.path / DUMP, target, restoring)
    if error:
        drop_database(target, restoring)
        raise IpaiError(f"restore of {backup.id} failed: {error}; {dbname} left as it was")
    if do_neutralize:
        steps.append("neutralized: " + ", ".join(neutralize(target, restoring)))
    if exists:
        drop_database(target, dbname)
    rename_database(target, restoring, dbname)
    steps.append(f"database {dbname} restored from {backup.id}")
    if filestore is not None:
        extract_filestore(backup.path / FILESTORE, filestore)
        steps.append(
            f"filestore {filestore} restored ({backup.manifest['filestore']['files']} files)"
        )
    return steps
