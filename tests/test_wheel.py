"""A wheel built from the repository carries checks/, gates/ and schemas/, and a user who
installs only the wheel can run the suites from any directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, assert_predeploy_passes_from


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # A copy of the tree, so the build never writes into the working copy.
    src = out / "src"
    ignore = shutil.ignore_patterns(
        ".venv", "node_modules", ".demo", "*.egg-info", "__pycache__", ".git", "build", "dist"
    )
    shutil.copytree(ROOT, src, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("pytest_ipai-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    rooms = ("core", "config", "addons", "rules", "probes", "evidence", "backup", "deploy")
    for required in (
        *(f"pytest_ipai/{room}/__init__.py" for room in (*rooms, "decision", "plugin")),
        "pytest_ipai/plugin/controller.py",
        "pytest_ipai/py.typed",
        "ipai_ops/cli.py",
        "ipai_checks/gate_oca_repos.py",
        "ipai_gates/predeploy.toml",
        "ipai_gates/postdeploy.toml",
        "ipai_schemas/config.schema.json",
        "ipai_schemas/results.schema.json",
    ):
        assert required in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]\nipai = pytest_ipai.plugin" in text
    assert "ipai = ipai_ops.cli:main" in text
    assert not any(n.startswith(("tests/", "examples/", "bench/")) for n in names)
    licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert zipfile.ZipFile(wheel).read(licence).startswith(b"GNU AFFERO GENERAL PUBLIC LICENSE")


def test_installed_wheel_runs_the_suite_from_anywhere(
    wheel: Path, demo_stack: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies come from the test environment (no network), without its editable
    # pytest-ipai: a plain path entry does not run that site folder's .pth files.
    site = Path(sysconfig.get_paths()["purelib"])
    venv_site = next((venv / "lib").glob("python3*/site-packages"))
    (venv_site / "deps.pth").write_text(f"{site}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = str(venv / "bin" / "python")
    where = subprocess.run(
        [
            python,
            "-c",
            "import pytest_ipai.config.resources as r, ipai_ops; print(r.checks_dir()); print(ipai_ops.__file__)",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert all(str(venv) in line for line in where), where

    assert_predeploy_passes_from(python, demo_stack, elsewhere)

    gate = subprocess.run(
        [
            str(venv / "bin" / "ipai"),
            "gate",
            "predeploy",
            "--config",
            str(demo_stack / "ipai.toml"),
            "--verify",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "verify: ok" in gate.stdout
