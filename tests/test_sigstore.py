"""`ipai evidence verify --sigstore-identity`: the pack's keyless Sigstore bundle is checked by
the `sigstore` CLI with the expected identity. Sigstore's services cannot be reached here, so
the CLI is a stand-in that records the arguments it was given and answers like the real one
(exit 0 when the bundle verifies, 1 with a message when not)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import run_ipai

IDENTITY = "https://github.com/acme/stack/.github/workflows/gates.yml@refs/heads/main"
STANDIN = """#!{python}
import json, pathlib, sys
args = sys.argv[1:]
pathlib.Path({record!r}).write_text(json.dumps(args))
bundle = pathlib.Path(args[args.index("--bundle") + 1]).read_text()
if bundle != "signed-by-the-workflow":
    print("Verification failed: certificate identity mismatch", file=sys.stderr)
    sys.exit(1)
print("OK: SHA256SUMS")
"""


@pytest.fixture
def sigstore_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    folder = tmp_path / "bin"
    folder.mkdir()
    record = tmp_path / "argv.json"
    cli = folder / "sigstore"
    cli.write_text(STANDIN.format(python=sys.executable, record=str(record)))
    cli.chmod(0o755)
    return dict(os.environ, PATH=f"{folder}:{os.environ['PATH']}"), record


def sign(pack: Path, content: str) -> None:
    (pack / "attestations").mkdir(exist_ok=True)
    (pack / "attestations" / "SHA256SUMS.sigstore.json").write_text(content)


def test_a_bundle_of_the_expected_identity_verifies(
    demo_pack: Path, sigstore_path: tuple[dict[str, str], Path]
) -> None:
    env, record = sigstore_path
    sign(demo_pack, "signed-by-the-workflow")
    plain = run_ipai("evidence", "verify", str(demo_pack))
    assert plain.stdout.strip() == f"{demo_pack}: valid (Sigstore bundle only)"
    proc = run_ipai("evidence", "verify", str(demo_pack), "--sigstore-identity", IDENTITY, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("; sigstore verified)")
    assert json.loads(record.read_text()) == [
        "verify",
        "identity",
        "--bundle",
        str(demo_pack / "attestations" / "SHA256SUMS.sigstore.json"),
        "--cert-identity",
        IDENTITY,
        "--cert-oidc-issuer",
        "https://token.actions.githubusercontent.com",
        str(demo_pack / "SHA256SUMS"),
    ]


def test_a_bundle_that_does_not_verify_is_a_problem(
    demo_pack: Path, sigstore_path: tuple[dict[str, str], Path]
) -> None:
    env, _record = sigstore_path
    sign(demo_pack, "signed-by-someone-else")
    proc = run_ipai("evidence", "verify", str(demo_pack), "--sigstore-identity", IDENTITY, env=env)
    assert proc.returncode == 1
    assert (
        f"{demo_pack}: attestations/SHA256SUMS.sigstore.json: sigstore does not verify it for "
        f"{IDENTITY}: Verification failed: certificate identity mismatch"
    ) in proc.stdout.splitlines()


def test_no_bundle_is_a_problem_and_no_cli_is_a_tool_error(
    demo_pack: Path, sigstore_path: tuple[dict[str, str], Path]
) -> None:
    env, _record = sigstore_path
    proc = run_ipai("evidence", "verify", str(demo_pack), "--sigstore-identity", IDENTITY, env=env)
    assert proc.returncode == 1
    assert "attestations/SHA256SUMS.sigstore.json: missing" in proc.stdout
    sign(demo_pack, "signed-by-the-workflow")
    bare = dict(os.environ, PATH="/usr/bin:/bin")
    proc = run_ipai("evidence", "verify", str(demo_pack), "--sigstore-identity", IDENTITY, env=bare)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "ipai: error: sigstore: command not found (pip install sigstore, then verify again)"
    )
