"""The import rules of docs/architecture.md hold, and a wrong import breaks them (so CI fails)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint(package_parent: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the copy of pytest_ipai in ``package_parent``, with the project's own
    contracts on pytest_ipai (the drivers and checks are not copied)."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = [
        c for c in settings["contracts"] if "ipai_ops" not in str(c) and "ipai_checks" not in str(c)
    ]
    lines = ["[tool.importlinter]", 'root_packages = ["pytest_ipai"]']
    lines.append("include_external_packages = true")
    for contract in contracts:
        lines.append("[[tool.importlinter.contracts]]")
        for key, value in contract.items():
            rendered = ", ".join(f'"{v}"' for v in value) if isinstance(value, list) else None
            lines.append(f"{key} = [{rendered}]" if rendered is not None else f'{key} = "{value}"')
    config = tmp_path / "contracts.toml"
    config.write_text("\n".join(lines) + "\n")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint_imports), str(config), "--no-cache"],
        cwd=package_parent,
        env=dict(os.environ, PYTHONPATH=str(package_parent)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    parent = tmp_path / "src"
    shutil.copytree(ROOT / "pytest_ipai", parent / "pytest_ipai")
    return parent


def test_the_contracts_hold(copy: Path, tmp_path: Path) -> None:
    proc = lint(copy, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        ("core/paths.py", "from ..probes import sockets", "core.paths -> pytest_ipai.probes"),
        ("rules/compose.py", "from ..probes import engine", "rules.compose -> pytest_ipai.probes"),
        ("evidence/journal.py", "import pytest", "evidence.journal -> pytest"),
    ],
)
def test_a_wrong_import_breaks_a_contract(
    copy: Path, tmp_path: Path, module: str, line: str, named: str
) -> None:
    path = copy / "pytest_ipai" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    proc = lint(copy, tmp_path)
    assert proc.returncode != 0
    assert "1 broken." in proc.stdout, proc.stdout
    assert f"pytest_ipai.{named}" in proc.stdout, proc.stdout
