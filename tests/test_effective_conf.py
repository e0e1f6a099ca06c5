"""odoo_conf.safe on the effective configuration: odoo.conf overlaid with the Odoo server's
command line, from the compose files or from a systemd unit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import set_env_keys
from test_predeploy_gates import classes, commit, suite


def test_odoo_conf_safe_judges_the_servers_command_line_too(demo_stack: Path) -> None:
    conf = demo_stack / "odoo.conf"
    conf.write_text(conf.read_text().replace("workers = 2", "workers = 0"))
    compose = demo_stack / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace(
            "    depends_on: [db]\n",
            "    depends_on: [db]\n    command: ['--', '--workers=3']\n",
            1,
        )
    )
    commit(demo_stack, "workers on the command line")
    result = suite(demo_stack, "--env", "prod")["odoo_conf.safe"]
    assert "workers_disabled" not in classes(result), result["message"]
    assert result["measurements"]["command_line"] == {
        "origin": "docker-compose.yml: services.odoo.command", "options": ["workers"],
    }  # fmt: skip
    compose.write_text(compose.read_text().replace("--workers=3", "--workers=0"))
    commit(demo_stack, "no workers after all")
    result = suite(demo_stack, "--env", "prod")["odoo_conf.safe"]
    assert "workers_disabled" in classes(result)
    assert (
        "docker-compose.yml: services.odoo.command (overrides odoo.conf): workers:"
        in (result["message"])
    )


def test_odoo_conf_safe_reads_the_systemd_units_command_line(
    demo_stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Odoo run by systemd: on the host, the unit's ExecStart is the command line (systemd
    cannot run here: a systemctl that answers as systemd 252 does stands in for it)."""
    conf = demo_stack / "odoo.conf"
    conf.write_text(conf.read_text().replace("proxy_mode = True", "proxy_mode = False"))
    commit(demo_stack, "proxy mode off in the file")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    answer = ("{ path=/usr/bin/odoo ; argv[]=/usr/bin/odoo -c /etc/odoo/odoo.conf --proxy-mode ; "
              "ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; "
              "status=0/0 }")  # fmt: skip
    fake = bindir / "systemctl"
    fake.write_text(f"#!{sys.executable}\nprint({answer!r})\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    set_env_keys(demo_stack, behind_proxy=True,
                 host_process={"systemd_unit": "odoo.service", "http_port": 8069})  # fmt: skip
    result = suite(demo_stack)["odoo_conf.safe"]
    assert result["status"] == "pass", result["message"]
    assert (
        result["measurements"]["command_line"]["origin"] == "systemd unit odoo.service: ExecStart"
    )
    fake.write_text(f"#!{sys.executable}\nprint({answer.replace(' --proxy-mode', '')!r})\n")
    result = suite(demo_stack)["odoo_conf.safe"]
    assert result["error_class"] == "proxy_mode_off"
