"""The demo stack's environment and modules, as the database tests set them: the keys of its
dev environment in ipai.toml, and ir_module_module at the versions on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INSTALLED = {
    "base": "18.0.1.3",
    "web": "18.0.1.0",
    "queue_job": "18.0.1.0.0",
    "queue_job_cron_jobrunner": "18.0.1.0.0",
    "base_technical_user": "18.0.1.0.0",
    "web_responsive": "18.0.1.0.0",
    "ipai_core": "18.0.1.0.0",
    "ipai_reports": "18.0.1.0.0",
}


def seed_modules(db: Any) -> None:
    """The demo stack's modules, installed at the versions on disk."""
    db.execute("DELETE FROM ir_module_module")
    for name, version in INSTALLED.items():
        db.execute(
            f"INSERT INTO ir_module_module (name, state, latest_version) VALUES ('{name}', 'installed', '{version}')"
        )
    db.execute(
        "INSERT INTO ir_module_module (name, state) VALUES ('module_auto_update', 'uninstalled'), ('web_studio', 'uninstallable')"
    )


def set_env_keys(stack: Path, **values: Any) -> None:
    """Set keys of the dev environment (the first in the demo config), replacing any given."""
    config = stack / "ipai.toml"
    lines = config.read_text().splitlines(keepends=True)
    start = lines.index("[environments.dev]\n") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    body = [ln for ln in lines[start:end] if ln.split("=", 1)[0].strip() not in values]
    body += [f"{key} = {_toml(value)}\n" for key, value in values.items() if value is not None]
    config.write_text("".join(lines[:start] + body + lines[end:]))


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)
