"""Backup gate: a verified backup of the target database, young enough, exists (checked on the
host that holds the backups, before anything destructive)."""

from __future__ import annotations

import pytest

from pytest_ipai.backup.store import backups
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.core.timeutil import utc_now

pytestmark = [pytest.mark.predeploy]


@pytest.mark.gate("backup.recent_verified", severity="critical")
def test_recent_verified_backup(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    env = ipai_config.env
    root = env.path("backup_root")
    database = env.raw.get("database")
    if root is None or not database:
        ipai_gate.error(
            "backup_not_configured",
            f"environments.{env.name}.backup_root and .database must be set for this gate",
        )
    max_age = float(ipai_gate.params.get("max_age_hours", 24))
    try:
        found = backups(root, env.name)
    except IpaiError as exc:
        ipai_gate.error("backup_store_unreadable", exc.message)
    ipai_gate.measure("backups", len(found))
    if not found:
        ipai_gate.fail("backup_missing", f"no backup of {env.name} in {root}")
    mine = [b for b in found if b.manifest.get("database") == database]
    if not mine:
        other = sorted({str(b.manifest.get("database")) for b in found})
        ipai_gate.fail(
            "backup_target_mismatch",
            f"backups in {root} are of {', '.join(other)}, not of {database}",
        )
    newest = mine[-1]
    verified = [b for b in mine if b.verified]
    ipai_gate.measure("newest", newest.id)
    if not verified:
        state = newest.verification["result"] if newest.verification else "never verified"
        ipai_gate.fail(
            "backup_unverified", f"no verified backup of {database}; newest {newest.id}: {state}"
        )
    best = verified[-1]
    age = (utc_now() - best.created).total_seconds() / 3600
    ipai_gate.measure("verified_age", round(age, 2), "hours")
    if age > max_age:
        ipai_gate.fail(
            "backup_stale",
            f"newest verified backup of {database} is {best.id}, "
            f"{age:.1f}h old (policy: {max_age:g}h)",
        )
