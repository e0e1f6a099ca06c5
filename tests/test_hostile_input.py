"""Hostile files handed to ipai: each is refused by name in one line, exit 2, no traceback, no
INTERNALERROR, nothing written; or, for a gate's own input (the addons manifest), an error of
the gates that read it, in a pack."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import run_ipai

DEEP_TOML = "x = " + "[" * 600 + "]" * 600 + "\n"


def _refused(proc: subprocess.CompletedProcess[str], line: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == f"ipai: error: {line}\n"
    assert "Traceback" not in proc.stdout and "INTERNALERROR" not in proc.stdout


def test_configs_that_are_not_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # used to hang forever
    _refused(run_ipai("gate", "predeploy", "--config", str(fifo), timeout=60),
             f"{fifo}: config file is a FIFO, not a regular file")  # fmt: skip
    # used to read 14 GB in 20 s
    _refused(run_ipai("gate", "predeploy", "--config", "/dev/zero", timeout=60),
             "/dev/zero: config file is a character device, not a regular file")  # fmt: skip
    loop = tmp_path / "loop.toml"
    os.symlink(loop, loop)  # used to be a RuntimeError traceback
    _refused(run_ipai("gate", "predeploy", "--config", str(loop), timeout=60),
             f"{loop}: config file: a symlink loop")  # fmt: skip
    deep = tmp_path / "deep.toml"
    deep.write_text(DEEP_TOML)  # used to be a RecursionError traceback
    _refused(run_ipai("gate", "predeploy", "--config", str(deep), timeout=60),
             f"{deep}: nested deeper than 64 levels")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.toml", "fifo.toml", "loop.toml"]


def test_a_nul_byte_in_a_configured_path(demo_stack: Path) -> None:
    config = demo_stack / "ipai.toml"
    config.write_text(
        config.read_text().replace('odoo_conf = "odoo.conf"', 'odoo_conf = "odoo\\u0000.conf"')
    )
    _refused(run_ipai("gate", "predeploy", "--config", str(config), timeout=60),
             f"{config}: stack.odoo_conf: contains a NUL byte")  # fmt: skip
    assert not (demo_stack / "evidence").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 5000 + "]" * 5000, "nested deeper than 64 levels"),
        ('{"version": 1, "oca_repositories": [\u0000]}', "invalid JSON"),
        (None, "addons manifest is a character device, not a regular file"),
    ],
)
def test_a_hostile_addons_manifest_is_an_error_in_a_pack(
    demo_stack: Path, content: str | None, message: str
) -> None:
    config = demo_stack / "ipai.toml"
    if content is None:
        text = config.read_text().replace(
            '"config/addons_manifest.oca_ipai.json",', '"/dev/zero",'
        )
        assert "/dev/zero" in text
        config.write_text(text)
    else:
        (demo_stack / "config" / "addons_manifest.oca_ipai.json").write_text(content)
    proc = run_ipai("gate", "predeploy", "--config", str(config), timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "INTERNALERROR" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert "oca.repos_present        error   addons_manifest_invalid" in proc.stdout
    assert message in proc.stdout
    assert "pack: " in proc.stdout
