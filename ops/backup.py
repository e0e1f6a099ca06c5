"""``ipai backup create|verify|list|prune|restore``."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from pytest_ipai.backup.create import create_backup
from pytest_ipai.backup.restore import restore_backup
from pytest_ipai.backup.retention import Item, Policy, keep
from pytest_ipai.backup.store import Backup, backups, exclusive, find
from pytest_ipai.backup.verify import verify_backup
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import EXIT_GATE_FAILED, EXIT_OK, ConfigError
from pytest_ipai.core.timeutil import utc_now
from pytest_ipai.probes.database import target_for

from . import tables


def backup_root(config: StackConfig) -> Path:
    root = config.env.path("backup_root")
    if root is None:
        raise ConfigError(f"{config.file}: environments.{config.env.name}.backup_root: not set")
    return root


def create(config: StackConfig, deploy_sha: str | None) -> int:
    root = backup_root(config)
    target = target_for(config.env)
    with exclusive(root, config.env.name, "backup create"):
        path = create_backup(
            root, config.env.name, target, config.env.path("filestore"), deploy_sha
        )
    print(path)
    return EXIT_OK


def verify(config: StackConfig, backup_id: str) -> int:
    root = backup_root(config)
    backup = find(root, config.env.name, backup_id)
    outcome = verify_backup(backup, target_for(config.env))
    for reason in outcome["reasons"]:
        print(f"{backup.id}: {reason}")
    print(f"{backup.id}: {outcome['result']}")
    return EXIT_OK if outcome["result"] == "verified" else EXIT_GATE_FAILED


def _age(backup: Backup) -> str:
    hours = (utc_now() - backup.created).total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def listing(config: StackConfig) -> int:
    items = backups(backup_root(config), config.env.name)
    rows = [("ID", "DATABASE", "AGE", "SIZE", "VERIFIED")]
    for b in reversed(items):
        state = "yes" if b.verified else ("FAILED" if b.verification else "no")
        rows.append((b.id, b.manifest["database"], _age(b), f"{b.size / 1e6:.1f} MB", state))
    print("\n".join(tables.render(rows)))
    return EXIT_OK


def last_known_good(config: StackConfig) -> str | None:
    state = config.env.path("state_file")
    if state is None or not state.is_file():
        return None
    try:
        value = json.loads(state.read_text("utf-8")).get("last_known_good_sha")
    except (OSError, ValueError):
        raise ConfigError(f"{state}: state file unreadable; refusing to prune blind") from None
    return str(value) if value else None


def prune(config: StackConfig, policy: Policy, dry_run: bool) -> int:
    root = backup_root(config)
    with exclusive(root, config.env.name, "backup prune"):
        items = backups(root, config.env.name)
        kept = keep(
            [Item(b.id, b.created, b.verified, b.manifest.get("deploy_sha")) for b in items],
            policy,
            last_known_good(config),
        )
        for b in items:
            if b.id in kept:
                print(f"keep    {b.id}  ({kept[b.id]})")
            else:
                print(f"{'would delete' if dry_run else 'delete'}  {b.id}")
                if not dry_run:
                    shutil.rmtree(b.path)
    return EXIT_OK


def restore(
    config: StackConfig, backup_id: str, target_db: str | None, force: bool, neutralize: bool
) -> int:
    root = backup_root(config)
    env = config.env.name
    target = target_for(config.env)
    backup = find(root, env, backup_id)
    dbname = target_db or target.dbname
    filestore = config.env.path("filestore")
    if filestore is not None and dbname != target.dbname:
        filestore = filestore.parent / dbname  # Odoo keeps one filestore folder per database

    def save_existing(name: str) -> Path:
        return create_backup(root, env, replace(target, dbname=name), filestore)

    with exclusive(root, env, "backup restore"):
        steps = restore_backup(
            backup,
            target,
            dbname,
            filestore,
            force=force,
            do_neutralize=neutralize,
            backup_existing=save_existing,
        )
    for step in steps:
        print(step)
    return EXIT_OK
