"""Backups against the real PostgreSQL: create, verify by restoring, restore, retention, and
what goes wrong (corruption, truncation, a killed run, a full disk, two runs at once)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import IPAI, bundled_off, run_ipai
from odoo_db import OdooDb, admin, drop_test_databases, fingerprint, make_odoo_db

from pytest_ipai.backup.retention import Item, Policy, keep


class Env:
    def __init__(self, base: Path, db: OdooDb) -> None:
        self.base = base
        self.db = db
        self.config = base / "ipai.toml"
        (base / "addons.json").write_text('{"version": 1, "oca_repositories": []}')
        self.config.write_text(
            '[stack]\naddons_manifest = "addons.json"\n'
            f'[environments.dev]\ndatabase = "{db.name}"\ndsn_env = "IPAI_TEST_DSN"\n'
            f'backup_root = "backups"\nfilestore = "{db.filestore}"\nevidence_root = "evidence"\n'
            'state_file = "state.json"\n'
        )

    @property
    def root(self) -> Path:
        return self.base / "backups" / "dev"

    def ipai(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_ipai("backup", *args, "--config", str(self.config), timeout=600)

    def create(self) -> Path:
        proc = self.ipai("create")
        assert proc.returncode == 0, proc.stderr
        return Path(proc.stdout.strip())

    def manifest(self, backup: Path) -> dict[str, Any]:
        return json.loads((backup / "manifest.json").read_text())

    def reseal(self, backup: Path) -> None:
        manifest = self.manifest(backup)
        for name in manifest["files"]:
            data = (backup / name).read_bytes()
            manifest["files"][name] = {
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        (backup / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    db = make_odoo_db(tmp_path)
    monkeypatch.setenv("IPAI_TEST_DSN", db.dsn)
    yield Env(tmp_path, db)
    drop_test_databases(db.name)
    drop_test_databases(f"ipai_verify_{db.name}")


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def no_scratch_left(db: OdooDb) -> bool:
    return not db.query(
        f"SELECT datname FROM pg_database WHERE datname LIKE 'ipai_verify_{db.name}%'", "postgres"
    )


def test_create_verify_restore_round_trip(env: Env) -> None:
    backup = env.create()
    manifest = env.manifest(backup)
    assert backup.parent == env.root
    assert manifest["database"] == env.db.name
    assert manifest["series"] == "18.0"
    assert manifest["modules"]["queue_job"] == "18.0.2.1.0"
    assert "account" not in manifest["modules"]
    assert manifest["row_counts"]["res_partner"] == 60_000
    assert manifest["filestore"]["files"] == 200
    assert manifest["files"]["db.dump"]["size"] > 1_000_000
    assert manifest["pg_dump_version"].startswith("pg_dump (PostgreSQL)")
    assert "postgres" not in json.dumps(manifest["files"])  # no DSN anywhere near the files

    proc = env.ipai("verify", backup.name)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().endswith(f"{backup.name}: verified")
    verification = json.loads((backup / "verification.json").read_text())
    assert verification["result"] == "verified" and verification["reasons"] == []
    assert no_scratch_left(env.db)

    before = tree_digest(backup)
    copy = f"{env.db.name}_copy"
    proc = env.ipai("restore", backup.name, "--target-db", copy)
    assert proc.returncode == 0, proc.stderr
    assert fingerprint(copy) == fingerprint(env.db.name)
    assert tree_digest(env.db.filestore.parent / copy) == tree_digest(env.db.filestore)
    assert tree_digest(backup) == before  # the backup itself is untouched

    listing = env.ipai("list").stdout.splitlines()
    assert listing[0].split() == ["ID", "DATABASE", "AGE", "SIZE", "VERIFIED"]
    assert listing[1].split()[0] == backup.name and listing[1].split()[-1] == "yes"


def test_corrupted_dump_and_checksum_mismatch(env: Env) -> None:
    backup = env.create()
    dump = backup / "db.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\0" * 4096
    dump.write_bytes(bytes(data))
    proc = env.ipai("verify", backup.name)
    assert proc.returncode == 1
    assert f"{backup.name}: db.dump: checksum mismatch" in proc.stdout
    # A forger who fixes the checksums still meets the real restore.
    env.reseal(backup)
    proc = env.ipai("verify", backup.name)
    assert proc.returncode == 1
    assert "db.dump: restore failed" in proc.stdout or "pg_restore --list failed" in proc.stdout
    assert json.loads((backup / "verification.json").read_text())["result"] == "failed"
    assert no_scratch_left(env.db)


def test_truncated_filestore_archive(env: Env) -> None:
    backup = env.create()
    archive = backup / "filestore.tar"
    with open(archive, "r+b") as fh:
        fh.truncate(archive.stat().st_size // 3)
    env.reseal(backup)
    proc = env.ipai("verify", backup.name)
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == f"{backup.name}: failed"
    assert any(line.startswith(f"{backup.name}: filestore.tar: ") for line in lines[:-1]), lines


def test_row_count_drift_is_caught(env: Env) -> None:
    backup = env.create()
    manifest = env.manifest(backup)
    manifest["row_counts"]["res_users"] += 1  # what a lying manifest would claim
    (backup / "manifest.json").write_text(json.dumps(manifest))
    proc = env.ipai("verify", backup.name)
    assert proc.returncode == 1
    assert "res_users: 50 rows restored, 51 at backup time" in proc.stdout


def test_killed_backup_leaves_nothing_that_looks_complete(env: Env) -> None:
    env.db.execute(
        "INSERT INTO res_partner (name, comment) SELECT 'bulk', repeat(md5(i::text), 40) "
        "FROM generate_series(1, 300000) i"
    )  # a dump that takes a moment
    child = subprocess.Popen(
        [*IPAI, "backup", "create", "--config", str(env.config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = env.root / ".staging"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dumps = list(staging.glob("*/db.dump")) if staging.exists() else []
        if dumps and dumps[0].stat().st_size > 0:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert env.ipai("list").stdout.splitlines()[1:] == []
    assert not [p for p in env.root.iterdir() if p.name[0].isdigit()]
    # The lock died with its holder: the next backup runs.
    assert env.create().is_dir()


def test_disk_full_is_a_clear_error_and_leaves_nothing(env: Env) -> None:
    def small_disk() -> None:  # what the child sees: files can grow to 2 MB, no more
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = subprocess.run(
        [*IPAI, "backup", "create", "--config", str(env.config)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_disk,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipai: error: ")
    assert "no space left" in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert [p.name for p in env.root.iterdir() if not p.name.startswith(".")] == []
    assert not any((env.root / ".staging").iterdir())


def test_two_backups_at_once(env: Env) -> None:
    from pytest_ipai.backup.store import exclusive

    with exclusive(env.base / "backups", "dev", "test holds the lock"):
        proc = env.ipai("create")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"ipai: error: backup_in_progress: another backup or restore of dev is running (pid {os.getpid()})"
    )


def test_restore_over_existing_database(env: Env) -> None:
    backup = env.create()
    assert env.ipai("verify", backup.name).returncode == 0
    env.db.execute("UPDATE res_partner SET name = 'changed after backup' WHERE id = 1")
    proc = env.ipai("restore", backup.name)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"ipai: error: database {env.db.name} exists; --force backs it up first and then replaces it"
    )
    assert env.db.query("SELECT name FROM res_partner WHERE id = 1") == [("changed after backup",)]
    proc = env.ipai("restore", backup.name, "--force", "--neutralize")
    assert proc.returncode == 0, proc.stderr
    assert env.db.query("SELECT name FROM res_partner WHERE id = 1") == [("Partner 1",)]
    saved = [p for p in env.root.iterdir() if p.name[0].isdigit() and p.name != backup.name]
    assert len(saved) == 1  # the replaced database was backed up first
    assert env.manifest(saved[0])["row_counts"]["res_partner"] == 60_000
    crons = env.db.query("SELECT cron_name, active FROM ir_cron ORDER BY id")
    assert crons == [
        ("Base: Auto-vacuum internal data", True),
        ("Mail: send queue", False),
        ("Queue: runner", False),
    ]
    assert env.db.query("SELECT bool_or(active) FROM ir_mail_server") == [(False,)]
    assert env.db.query("SELECT bool_or(active) FROM fetchmail_server") == [(False,)]
    assert env.db.query(
        "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
    ) == [("true",)]


def test_retention_on_a_synthetic_calendar() -> None:
    start = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    items = [
        Item(f"b{i:03d}", start + timedelta(hours=12 * i), verified=(i % 10 == 0))
        for i in range(240)
    ]
    items.append(Item("lkg", start + timedelta(days=3), verified=False, deploy_sha="a" * 40))
    kept = keep(items, Policy(), last_known_good="a" * 40)
    newest = max(items, key=lambda i: i.created)
    days = {i.created.date() for i in items if i.id in kept and "daily" in kept[i.id]}
    assert len(days) == 7 and newest.id in kept
    assert sum("weekly" in r for r in kept.values()) <= 4
    assert sum("monthly" in r for r in kept.values()) <= 3
    assert kept["lkg"] == "last known good deploy"
    newest_verified = max((i for i in items if i.verified), key=lambda i: i.created)
    assert newest_verified.id in kept
    assert len(kept) <= 7 + 4 + 3 + 2
    # Only one backup each day is kept: the newest of that day.
    for item in items:
        if item.id in kept and "daily" in kept[item.id]:
            same_day = [i for i in items if i.created.date() == item.created.date()]
            assert item.created == max(i.created for i in same_day)


def test_prune_dry_run_then_real(env: Env) -> None:
    root = env.root
    root.mkdir(parents=True)
    now = datetime.now(UTC)
    for day in range(20):
        moment = now - timedelta(days=day)
        folder = root / f"{moment:%Y%m%dT%H%M%SZ}"
        folder.mkdir()
        stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        manifest = {
            "schema": "ipai/backup/1",
            "id": folder.name,
            "env": "dev",
            "database": env.db.name,
            "modules": {},
            "row_counts": {},
            "filestore": {"files": 0, "bytes": 0},
            "files": {},
            "pg_dump_version": "synthetic",
            "started_at": stamp,
            "finished_at": stamp,
            "deploy_sha": "b" * 40 if day == 15 else None,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
    (env.base / "state.json").write_text(json.dumps({"last_known_good_sha": "b" * 40}))
    dry = env.ipai("prune", "--dry-run", "--weekly", "0", "--monthly", "0")
    assert dry.returncode == 0, dry.stderr
    assert sum(line.startswith("would delete") for line in dry.stdout.splitlines()) == 12
    assert len([p for p in root.iterdir() if p.name[0].isdigit()]) == 20
    real = env.ipai("prune", "--weekly", "0", "--monthly", "0")
    assert real.returncode == 0
    left = sorted(p.name for p in root.iterdir() if p.name[0].isdigit())
    assert len(left) == 8
    assert any("last known good deploy" in line for line in real.stdout.splitlines())


def test_backup_gate(env: Env, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    # Only this gate: every other bundled gate off.
    disabled = bundled_off(keep=["backup.recent_verified"])
    policy.write_text(
        disabled
        + '[gates."backup.recent_verified"]\nenabled = true\nparams = { max_age_hours = 1 }\n'
    )
    env.config.write_text(env.config.read_text() + f'policy = "{policy}"\n')

    def gate() -> dict[str, Any]:
        proc = run_ipai("gate", "predeploy", "--config", str(env.config))
        assert proc.returncode in (0, 1), proc.stderr
        pack = sorted((env.base / "evidence").glob("*/*"))[-1]
        (result,) = json.loads((pack / "results.json").read_text())["results"]
        return result

    assert gate()["error_class"] == "backup_missing"
    backup = env.create()
    result = gate()
    assert (result["status"], result["error_class"]) == ("fail", "backup_unverified")
    assert env.ipai("verify", backup.name).returncode == 0
    assert gate()["status"] == "pass"
    manifest = env.manifest(backup)
    manifest["finished_at"] = (
        (datetime.now(UTC) - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    )
    (backup / "manifest.json").write_text(json.dumps(manifest))
    stale = gate()
    assert stale["error_class"] == "backup_stale"
    assert "3.0h old (policy: 1h)" in stale["message"]
    manifest["database"] = "some_other_db"
    (backup / "manifest.json").write_text(json.dumps(manifest))
    assert gate()["error_class"] == "backup_target_mismatch"
    assert sys.executable
    with admin() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_damaged_backup_records(env: Env) -> None:
    backup = env.create()
    assert env.ipai("verify", backup.name).returncode == 0
    (backup / "verification.json").write_text('{"result": "verified"}')  # forged, incomplete
    from pytest_ipai.backup.store import load

    assert load(backup).verified is False
    (backup / "manifest.json").write_text('{"schema": "ipai/backup/1"}')
    proc = env.ipai("list")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"ipai: error: {backup / 'manifest.json'}: id: required key is missing"
    )


def test_database_errors_are_one_line(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPAI_TEST_DSN", env.db.dsn.rsplit("/", 1)[0] + "/x?user=nobody_here")
    proc = env.ipai("create")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"ipai: error: database {env.db.name}: cannot connect"
    )
    monkeypatch.delenv("IPAI_TEST_DSN")
    proc = env.ipai("create")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "ipai: error: environment variable IPAI_TEST_DSN (environments.dev.dsn_env) is not set"
    )


def test_password_travels_in_the_environment_not_argv() -> None:
    from pytest_ipai.backup.create import pg_dump_argv
    from pytest_ipai.probes.database import Target

    target = Target("127.0.0.1", "5432", "odoo", "S3cret-Pw-123", "prod_db")
    argv = pg_dump_argv(target, "00000003-1", Path("/tmp/x.dump"))
    assert not any("S3cret-Pw-123" in word for word in argv)
    assert target.libpq_env()["PGPASSWORD"] == "S3cret-Pw-123"
    assert "--no-password" in argv and "--dbname=prod_db" in argv
