"""db.reachable and db.migrations_applied against the real PostgreSQL and the demo stack's
addons on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import postdeploy
from odoo_db import OdooDb


def test_healthy_database_passes(stack_db: tuple[Path, OdooDb]) -> None:
    stack, _ = stack_db
    results = postdeploy(stack)
    assert results["db.reachable"]["status"] == "pass"
    assert results["db.migrations_applied"]["status"] == "pass"
    assert results["db.reachable"]["attempts"][0]["outcome"] == "ok"
    assert results["db.migrations_applied"]["measurements"]["installed"] == 8


def test_every_migration_fault_is_named(stack_db: tuple[Path, OdooDb]) -> None:
    stack, db = stack_db
    db.execute("UPDATE ir_module_module SET state = 'to upgrade' WHERE name = 'queue_job'")
    db.execute("UPDATE ir_module_module SET state = 'uninstalled' WHERE name = 'ipai_reports'")
    db.execute(
        "INSERT INTO ir_module_module (name, state, latest_version) VALUES ('sale_legacy_bridge', 'installed', '18.0.1.0.0')"
    )
    db.execute(
        "UPDATE ir_module_module SET latest_version = '18.0.0.9.0' WHERE name = 'web_responsive'"
    )
    result = postdeploy(stack)["db.migrations_applied"]
    assert (result["status"], result["error_class"]) == ("fail", "module_state_pending")
    assert result["message"].startswith("queue_job: to upgrade")
    assert result["measurements"]["error_classes"] == {
        "module_state_pending": 1,
        "module_not_installed": 2,
        "module_missing_on_disk": 1,
        "version_not_applied": 1,
    }
    db.execute(
        "UPDATE ir_module_module SET state = 'installed' WHERE name IN ('queue_job', 'ipai_reports')"
    )
    result = postdeploy(stack)["db.migrations_applied"]
    assert result["error_class"] == "module_missing_on_disk"
    assert (
        "sale_legacy_bridge: installed in the database, in no folder of addons_path"
        in result["message"]
    )
    db.execute("DELETE FROM ir_module_module WHERE name = 'sale_legacy_bridge'")
    result = postdeploy(stack)["db.migrations_applied"]
    assert result["error_class"] == "version_not_applied"
    assert result["message"].startswith("web_responsive: database 18.0.0.9.0, disk 18.0.1.0.0")


def test_a_module_without_version_is_compared_at_odoos_default(
    stack_db: tuple[Path, OdooDb],
) -> None:
    """Like Odoo's contacts: no version in the manifest is 1.0, stored as 18.0.1.0."""
    stack, db = stack_db
    manifest = stack / "addons" / "ipai" / "ipai_reports" / "__manifest__.py"
    manifest.write_text(manifest.read_text().replace('    "version": "18.0.1.0.0",\n', ""))
    db.execute(
        "UPDATE ir_module_module SET latest_version = '18.0.1.0' WHERE name = 'ipai_reports'"
    )
    assert postdeploy(stack)["db.migrations_applied"]["status"] == "pass"
    db.execute(
        "UPDATE ir_module_module SET latest_version = '18.0.0.9' WHERE name = 'ipai_reports'"
    )
    result = postdeploy(stack)["db.migrations_applied"]
    assert result["error_class"] == "version_not_applied"
    assert result["message"].startswith("ipai_reports: database 18.0.0.9, disk 18.0.1.0")


def test_unreachable_database_fails_and_migrations_cannot_look(
    stack_db: tuple[Path, OdooDb], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, _db = stack_db
    monkeypatch.setenv(
        "DEMO_DSN", "postgresql://postgres@127.0.0.1:1/x"
    )  # nothing listens on port 1
    results = postdeploy(stack)
    reach = results["db.reachable"]
    assert (reach["status"], reach["error_class"]) == ("fail", "db_unreachable")
    assert len(reach["attempts"]) == 3 and all(a["outcome"] == "failed" for a in reach["attempts"])
    migrations = results["db.migrations_applied"]
    assert (migrations["status"], migrations["error_class"]) == ("error", "db_unreachable")
    monkeypatch.delenv("DEMO_DSN")
    results = postdeploy(stack)
    assert results["db.reachable"]["error_class"] == "db_not_configured"
    assert results["db.reachable"]["status"] == "error"
