"""A bounded fuzz of every reader of user files (config, policy, addons manifest, __manifest__.py,
lock, evidence pack): whatever the bytes, a reader returns or raises the one-line IpaiError
(exit 2), never another exception (a traceback), and writes nothing; and the CLI on a sample of
the same inputs exits 0, 1 or 2 without a traceback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import run_ipai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_ipai.addons.addons_manifest import load_addons_manifest
from pytest_ipai.addons.lockfile import load_lock
from pytest_ipai.addons.manifest_file import parse_manifest
from pytest_ipai.config.policy import load_policy
from pytest_ipai.config.stack import load_config
from pytest_ipai.core.errors import IpaiError
from pytest_ipai.evidence.verify import verify_pack

VALID_CONFIG = """[stack]
name = "fuzz"
addons_manifest = "m.json"
addons_path = ["addons"]
default_env = "dev"

[environments.dev]
evidence_root = "evidence"
"""
# Pieces of real documents, shuffled and broken: closer to what breaks parsers than noise.
FRAGMENTS = st.sampled_from([
    "[stack]", "[environments.dev]", "[gates.\"http.health\"]", "params = {", "timeout = nan",
    "x = [[[[", "]]]]", "\"\\u0000\"", "name = \"a\"", "= =", "{", "}", "[", "]", ",", ":",
    '"oca_repositories": [', '"version": 1', '"depends": ["base"]', "'name': 'x',", "null",
    "1e309", "-0", "\ufeff", "\x00", "\n", "#", "\"\"\"", "'''", "\\", "\t", "true",
])  # fmt: skip
TEXTS = st.one_of(
    st.lists(FRAGMENTS, max_size=40).map(" ".join),
    st.text(max_size=300),
    st.builds(
        lambda n, o, c: o * n + c * n,
        st.integers(0, 3000),
        st.sampled_from("[{("),
        st.sampled_from("]})"),
    ),
)
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _refusal(call: Callable[[], Any]) -> str:
    """The one-line message of the IpaiError ``call`` raised, or "": any other exception
    escapes and fails the test."""
    try:
        call()
    except IpaiError as exc:
        return exc.message
    return ""


def _survives(read: Callable[[Path], Any], folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    path.write_bytes(data)
    before = sorted(p.name for p in folder.iterdir())
    assert "\n" not in _refusal(lambda: read(path))  # one line, if any
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


@FUZZ
@given(TEXTS)
def test_config_reader(tmp_path: Path, text: str) -> None:
    _survives(load_config, tmp_path, "ipai.toml", (VALID_CONFIG + text).encode())


@FUZZ
@given(TEXTS)
def test_policy_reader(tmp_path: Path, text: str) -> None:
    _survives(load_policy, tmp_path, "policy.toml", text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(TEXTS)
def test_addons_manifest_and_lock_readers(tmp_path: Path, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    _survives(lambda p: load_addons_manifest(p, tmp_path), tmp_path, "m.json", data)
    _survives(load_lock, tmp_path, "oca.lock.json", data)


@FUZZ
@given(TEXTS)
def test_odoo_manifest_reader(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "addon"
    folder.mkdir(exist_ok=True)
    _survives(lambda p: parse_manifest(p, "18.0"), folder, "__manifest__.py",
              text.encode("utf-8", "surrogatepass"))  # fmt: skip


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.sampled_from(["results.json", "manifest.json", "journal.jsonl", "SHA256SUMS", "junit.xml"]),
       TEXTS)  # fmt: skip
def test_pack_verifier(demo_pack_template: Path, tmp_path: Path, name: str, text: str) -> None:
    pack = tmp_path / "pack"
    shutil.rmtree(pack, ignore_errors=True)
    shutil.copytree(demo_pack_template, pack, symlinks=True)
    (pack / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    problems: list[str] = []
    assert "\n" not in _refusal(lambda: problems.extend(verify_pack(pack)))
    assert all("\n" not in p for p in problems)


CLI_SAMPLES = [
    "x = " + "[" * 700 + "]" * 700,
    VALID_CONFIG + '[environments.dev.hostd]\nlisten = "\\u0000"\n',
    "[stack]\nname = 1\n",
    "\x00\x01\x02",
    VALID_CONFIG.replace('"m.json"', '"/dev/zero"'),
]


@pytest.mark.parametrize("text", CLI_SAMPLES)
def test_the_cli_on_hostile_configs(tmp_path: Path, text: str) -> None:
    config = tmp_path / "ipai.toml"
    config.write_text(text)
    (tmp_path / "addons").mkdir()
    for command in (["gate", "predeploy"], ["repos", "status"], ["evidence", "list"]):
        before = sorted(p.name for p in tmp_path.iterdir())
        proc: subprocess.CompletedProcess[str] = run_ipai(
            *command, "--config", str(config), timeout=120
        )
        assert proc.returncode in (0, 1, 2), proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert "INTERNALERROR" not in proc.stdout + proc.stderr
        if proc.returncode == 2:
            assert proc.stderr.count("\n") == 1, proc.stderr
            assert sorted(p.name for p in tmp_path.iterdir()) == before
