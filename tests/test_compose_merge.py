"""Compose files merged the way Docker Compose merges them (the specification's merge rules),
read from real files with the ``!reset`` and ``!override`` tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ipai.core.errors import InputError
from pytest_ipai.rules.compose import merged_compose, origin_in, published_ports

BASE = """services:
  odoo:
    image: odoo:18.0
    command: ["odoo", "--workers=2"]
    ports: ["127.0.0.1:8069:8069", "8072:8072"]
    environment: [HOST=db, USER=odoo]
    volumes:
      - ./addons:/mnt/extra-addons
      - ./conf/base.conf:/etc/odoo/odoo.conf
    dns: [1.1.1.1]
    healthcheck: {test: ["CMD", "true"], interval: 10s}
"""


def merge(tmp_path: Path, *overlays: str) -> dict:  # type: ignore[type-arg]
    names = ["base.yml"]
    (tmp_path / "base.yml").write_text(BASE)
    for index, text in enumerate(overlays):
        names.append(f"o{index}.yml")
        (tmp_path / names[-1]).write_text(text)
    merged, _ = merged_compose(tmp_path, names)
    odoo: dict = merged.data["services"]["odoo"]  # type: ignore[type-arg]
    return odoo


def test_sequences_append_and_an_empty_list_removes_nothing(tmp_path: Path) -> None:
    odoo = merge(tmp_path, "services:\n  odoo:\n    ports: []\n    dns: [8.8.8.8]\n")
    assert odoo["ports"] == ["127.0.0.1:8069:8069", "8072:8072"]
    assert odoo["dns"] == ["1.1.1.1", "8.8.8.8"]
    merged, _ = merged_compose(tmp_path, ["base.yml", "o0.yml"])
    assert merged.notes == [
        "o0.yml: services.odoo.ports: [] removes nothing: compose appends ports, so the 2 "
        "published before stay (write `ports: !reset []` to remove them)"
    ]


def test_reset_removes_and_override_replaces(tmp_path: Path) -> None:
    odoo = merge(
        tmp_path,
        "services:\n  odoo:\n    ports: !reset []\n    dns: !override [9.9.9.9]\n"
        "    healthcheck: !reset null\n",
    )
    assert "ports" not in odoo and "healthcheck" not in odoo
    assert odoo["dns"] == ["9.9.9.9"]
    again = merge(
        tmp_path,
        "services:\n  odoo:\n    ports: !reset []\n",
        "services:\n  odoo:\n    ports: ['127.0.0.1:80:80']\n",
    )
    assert again["ports"] == ["127.0.0.1:80:80"]


def test_unique_resources_commands_and_mappings(tmp_path: Path) -> None:
    odoo = merge(
        tmp_path,
        "services:\n  odoo:\n    command: odoo --workers=4\n"
        "    ports: ['8072:8072', '127.0.0.1:8070:8069']\n"
        "    environment: {USER: admin, DEBUG: '1'}\n"
        "    volumes: ['./conf/prod.conf:/etc/odoo/odoo.conf:ro']\n"
        "    healthcheck: {test: [CMD, curl, -f, localhost]}\n",
    )
    assert odoo["command"] == "odoo --workers=4"  # replaced, not appended
    assert odoo["ports"] == ["127.0.0.1:8069:8069", "8072:8072", "127.0.0.1:8070:8069"]
    assert odoo["environment"] == {"HOST": "db", "USER": "admin", "DEBUG": "1"}
    assert odoo["volumes"] == [
        "./addons:/mnt/extra-addons",
        "./conf/prod.conf:/etc/odoo/odoo.conf:ro",
    ]
    assert odoo["healthcheck"] == {"test": ["CMD", "curl", "-f", "localhost"], "interval": "10s"}


def test_each_published_port_names_the_file_that_publishes_it(tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text(BASE)
    (tmp_path / "prod.yml").write_text(
        "services:\n  proxy:\n    image: nginx\n    ports: ['443:443']\n"
    )
    merged, loaded = merged_compose(tmp_path, ["base.yml", "prod.yml"])
    ports = {
        (p.file, p.service, p.port)
        for p in published_ports("merged", merged.data, origin_in(loaded))
    }
    assert ports == {
        ("base.yml", "odoo", "8069"),
        ("base.yml", "odoo", "8072"),
        ("prod.yml", "proxy", "443"),
    }


def test_a_broken_overlay_is_one_line_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text(BASE)
    (tmp_path / "bad.yml").write_text("services:\n  odoo:\n    ports: [\n")
    with pytest.raises(InputError, match=r"bad.yml:4: invalid YAML"):
        merged_compose(tmp_path, ["base.yml", "bad.yml"])
