"""The addons-manifest files of the stack agree with each other."""

from __future__ import annotations

import json

import pytest

from pytest_ipai.addons.addons_manifest import AddonsManifest
from pytest_ipai.addons.manifest_sync import compare_sources
from pytest_ipai.config.stack import StackConfig
from pytest_ipai.core.recorder import GateRecorder

pytestmark = [pytest.mark.predeploy]


@pytest.mark.gate("addons.manifest_sync", severity="critical")
def test_manifest_sync(
    ipai_gate: GateRecorder, ipai_config: StackConfig, ipai_addons_manifest: AddonsManifest
) -> None:
    sources = ipai_addons_manifest.sources
    findings, pairs = compare_sources(sources, ipai_config.repo_root)
    ipai_gate.measure("sources", len(sources))
    ipai_gate.measure("disagreements", len(findings))
    ipai_gate.blob(
        "manifest-sources.json",
        json.dumps(
            {
                "sources": [
                    {
                        "file": str(s.file),
                        "format": s.format,
                        "repositories": sorted(s.repos) if s.repos is not None else None,
                        "must_have": sorted(m) if (m := s.module_set()) is not None else None,
                    }
                    for s in sources
                ],
                "pairs": pairs,
                "findings": [f.__dict__ for f in findings],
            },
            indent=2,
        ),
        "application/json",
    )
    if len(sources) < 2:
        only = sources[0].file.name
        ipai_gate.notice("single_source", f"{only}: the one declared file, nothing to compare")
        return
    ipai_gate.fail_findings([(f.error_class, f.message) for f in findings])
