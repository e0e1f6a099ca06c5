"""Sigstore keyless signatures of a pack, made in CI with the job's OIDC identity.

CI signs the pack's SHA256SUMS (which names every other file with its digest) with
``sigstore sign --bundle PACK/attestations/SHA256SUMS.sigstore.json PACK/SHA256SUMS``. Verifying
asks the ``sigstore`` CLI (sigstore-python, installed where this is used) whether that bundle
was signed by the expected identity and issuer; it needs Sigstore's public services, so it runs
where they are reachable. docs/evidence.md shows the GitHub Actions steps.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..core.errors import ToolError
from ..core.proc import run

BUNDLE = "attestations/SHA256SUMS.sigstore.json"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SIGSTORE_TIMEOUT = 120.0


def sigstore_cli() -> str:
    found = shutil.which("sigstore") or shutil.which(
        "sigstore", path=os.path.dirname(sys.executable)
    )
    if not found:
        raise ToolError("sigstore: command not found (pip install sigstore, then verify again)")
    return found


def sigstore_problems(pack: Path, identity: str, issuer: str = GITHUB_ISSUER) -> list[str]:
    """Problems with the pack's Sigstore bundle for ``identity`` (empty when it verifies)."""
    bundle = pack / BUNDLE
    if not bundle.is_file():
        return [f"{BUNDLE}: missing (the pack has no Sigstore signature)"]
    argv = [
        sigstore_cli(),
        "verify",
        "identity",
        "--bundle",
        str(bundle),
        "--cert-identity",
        identity,
        "--cert-oidc-issuer",
        issuer,
        str(pack / "SHA256SUMS"),
    ]
    proc = run(argv, timeout=SIGSTORE_TIMEOUT)
    if proc.returncode == 0:
        return []
    last = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]
    return [f"{BUNDLE}: sigstore does not verify it for {identity}: {last}"]
