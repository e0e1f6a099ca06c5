"""Deployment configuration gates: compose publishes nothing publicly and pins its images;
odoo.conf is safe for the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.core.gitstate import tracked
from pytest_ipai.core.proc import run
from pytest_ipai.core.recorder import GateRecorder
from pytest_ipai.rules.compose import (
    allowed,
    image_series,
    image_unpinned,
    images,
    load_compose,
    merged_compose,
    origin_in,
    published_ports,
)
from pytest_ipai.rules.odoo_cli import (
    CommandLine,
    parse_odoo_args,
    service_command,
    systemd_exec_start,
)
from pytest_ipai.rules.odoo_conf import check_odoo_conf

pytestmark = [pytest.mark.predeploy]


@pytest.mark.gate("compose.no_public_ports", severity="critical")
def test_compose_no_public_ports(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    env = ipai_config.env
    files = [str(name) for name in env.raw.get("compose_files") or []]
    if not files:
        ipai_gate.error("compose_not_configured", f"environments.{env.name}.compose_files: not set")
    allowlist = list(env.raw.get("port_allowlist", []))
    require_digest = bool(ipai_gate.params.get("require_digest", env.production))
    public, unpinned, other_series, seen = [], [], [], []
    series = ipai_config.series
    try:
        # Judged as compose runs them: the environment's files merged in -f order.
        merged, loaded = merged_compose(ipai_config.base_dir, files)
        where = origin_in(loaded)
        for port in published_ports("merged", merged.data, where):
            seen.append(port.__dict__)
            if not port.loopback and not allowed(port, allowlist):
                address = port.address or "0.0.0.0"  # noqa: S104 - what compose publishes on
                public.append(
                    f"{port.file}: {port.service} publishes {address}:{port.port} -> {port.target}"
                )
        for image in images("merged", merged.data, where):
            why = image_unpinned(image.image, require_digest)
            if why:
                unpinned.append(f"{image.file}: {image.service} image {image.image}: {why}")
            runs = image_series(image.image)
            if series and runs and runs != series:
                other_series.append(
                    f"{image.file}: {image.service} image {image.image} runs Odoo {runs}, "
                    f"the stack is {series}"
                )
    except IpaiError as exc:
        ipai_gate.error("compose_unreadable", exc.message)
    for note in merged.notes:
        ipai_gate.notice("overlay_removes_nothing", note)
    ipai_gate.measure("compose_files", merged.files)
    ipai_gate.measure("published", len(seen))
    ipai_gate.blob("published-ports.json", json.dumps(seen, indent=2), "application/json")
    ipai_gate.blob(
        "compose-merged.json",
        json.dumps(
            {"files": merged.files, "notes": merged.notes, "compose": merged.data},
            indent=2,
            default=str,
        ),
        "application/json",
    )
    ipai_gate.fail_findings(
        [("image_series_mismatch", m) for m in other_series]
        + [("public_port", p) for p in public]
        + [("unpinned_image", u) for u in unpinned]
    )


@pytest.mark.gate("odoo_conf.safe", severity="critical")
def test_odoo_conf_safe(ipai_gate: GateRecorder, ipai_config: StackConfig) -> None:
    conf = ipai_config.setting("odoo_conf")  # the environment's own, else the stack's
    if not conf:
        ipai_gate.error(
            "odoo_conf_not_configured", f"{ipai_config.setting_key('odoo_conf')}: not set"
        )
    ipai_gate.measure(
        "odoo_conf", {"file": str(conf), "from": ipai_config.setting_key("odoo_conf")}
    )
    env = ipai_config.env
    behind_proxy = bool(
        env.raw.get("behind_proxy", str(env.raw.get("base_url", "")).startswith("https://"))
    )
    try:
        path = ipai_config.base_dir / conf
        cli, cli_file = _odoo_command_line(ipai_config)
        findings = check_odoo_conf(
            path,
            production=env.production,
            behind_proxy=behind_proxy,
            committed=path.is_file() and tracked(path),
            cli=cli,
            cli_committed=cli_file is not None and tracked(cli_file),
        )
    except IpaiError as exc:
        ipai_gate.error("config_invalid", exc.message)
    if cli is not None:
        ipai_gate.measure("command_line", {"origin": cli.origin, "options": sorted(cli.options)})
        for key in cli.unknown:
            ipai_gate.notice(
                "command_line_variable",
                f"{cli.origin}: {key} comes from a variable without a default: judged from "
                f"{path.name}",
            )
    ipai_gate.measure("findings", len(findings))
    ipai_gate.blob(
        "odoo-conf-findings.json",
        json.dumps([f.__dict__ for f in findings], indent=2),
        "application/json",
    )
    order = (
        "db_manager_exposed",
        "master_password_weak",
        "secret_committed",
        "config_unrendered",
        "proxy_mode_off",
        "workers_disabled",
        "unknown_config_key",
    )
    ipai_gate.fail_findings(
        [(f.error_class, f.message) for k in order for f in findings if f.error_class == k]
    )


def _odoo_command_line(config: StackConfig) -> tuple[CommandLine | None, Path | None]:
    """The Odoo server's command line: ``odoo_args`` of the environment (a host-mode server),
    else the Odoo service's command as the environment's compose files merge it."""
    env = config.env
    args = env.raw.get("odoo_args")
    if isinstance(args, list):
        return parse_odoo_args([str(a) for a in args], f"environments.{env.name}.odoo_args"), (
            config.file
        )
    unit = (env.raw.get("host_process") or {}).get("systemd_unit")
    if unit:  # on the host (a deploy's pre-deploy run): the unit's own command line
        words = _unit_command(str(unit))
        if words is not None:
            return parse_odoo_args(words, f"systemd unit {unit}: ExecStart"), None
    service = (env.raw.get("services") or {}).get("odoo")
    files = [config.base_dir / str(name) for name in env.raw.get("compose_files") or []]
    if not service or not files:
        return None, None
    loaded = [(str(f), load_compose(f)) for f in files]
    found = service_command(loaded, str(service))
    if found is None:
        return None, None
    words, origin = found
    source = next(f for f in reversed(files) if f.name == origin.split(":", 1)[0])
    return parse_odoo_args(words, origin), source


def _unit_command(unit: str) -> list[str] | None:
    """ExecStart of a systemd unit on this machine; None where systemd cannot say (in CI, in
    a container): the gate then judges odoo.conf and odoo_args alone."""
    try:
        proc = run(["systemctl", "show", "-p", "ExecStart", "--value", unit], timeout=10)
    except IpaiError:
        return None
    return systemd_exec_start(proc.stdout) if proc.returncode == 0 else None
