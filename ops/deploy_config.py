"""Which configuration governs a release: its own. After the checkout the driver reads the
release's config (validated; an invalid one aborts the deploy), so its compose files, upgrade
command, policy and gates are the ones this release was written for, and the suites (which
read the file) agree with the driver. Settings that belong to the host and not to a release
(where state, backups and evidence live, which database and engine this host serves) must be
the same in the release's config as in the host's: a release that changes one is refused
rather than half-applied. Every step records the SHA-256 of the config file it ran under."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pytest_ipai.config.stack import StackConfig, load_config
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.deploy.state import DeployError

HOST_OWNED = (
    "state_file", "backup_root", "evidence_root", "filestore", "database", "dsn_env",
    "engine_socket", "compose_project", "hostd",
)  # fmt: skip
HOST_OWNED_DEPLOY = ("maintenance_file", "lock_ttl_minutes")


def config_digest(config: StackConfig) -> str:
    try:
        return hashlib.sha256(Path(config.file).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def host_owned(config: StackConfig) -> dict[str, Any]:
    env = config.env.raw
    owned = {key: env.get(key) for key in HOST_OWNED}
    deploy = env.get("deploy") or {}
    owned.update({f"deploy.{key}": deploy.get(key) for key in HOST_OWNED_DEPLOY})
    return owned


def release_config(host: StackConfig) -> StackConfig:
    """The checked-out release's config for the same environment; DeployError
    ``config_invalid`` or ``config_host_owned_changed`` when it cannot govern this deploy."""
    try:
        release = load_config(host.file, host.env.name)
    except IpaiError as exc:
        raise DeployError("config_invalid", f"the release's config: {exc.message}") from None
    before, after = host_owned(host), host_owned(release)
    changed = sorted(key for key in before if before[key] != after[key])
    if changed:
        where = f"environments.{host.env.name}"
        raise DeployError(
            "config_host_owned_changed",
            f"the release changes {', '.join(f'{where}.{k}' for k in changed)}: host-owned "
            "settings change on the host first, never with a release",
        )
    return release
