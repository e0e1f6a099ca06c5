"""``ipai report`` builds an offline single-file Allure report with the real Allure CLI."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from conftest import run_ipai

from pytest_ipai.evidence.offline_html import CSP, external_references, make_offline
from pytest_ipai.evidence.verify import verify_pack


def embedded_files(html: str) -> dict[str, str]:
    """The report's data files, which Allure embeds as d("name","base64") calls."""
    files = {}
    for name, data in re.findall(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)', html):
        try:
            files[name] = base64.b64decode(data).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
    return files


def test_report_is_offline_single_file_with_gate_labels(demo_pack: Path) -> None:
    proc = run_ipai("report", str(demo_pack))
    assert proc.returncode == 0, proc.stderr
    report = Path(proc.stdout.strip())
    assert report == demo_pack.parent / "predeploy.report.html"
    assert report.parent == demo_pack.parent  # next to the pack, not inside it
    assert verify_pack(demo_pack) == []
    assert [p.name for p in report.parent.iterdir() if p.is_file()] == [report.name]

    html = report.read_text()
    assert external_references(html) == []
    for beacon in ("googletagmanager", "google-analytics", "gtag("):
        assert beacon not in html
    assert CSP in html

    files = embedded_files(html)
    data = "\n".join(files.values())
    assert "oca.repos_present" in data
    manifest = json.loads((demo_pack / "manifest.json").read_text())
    assert manifest["run_id"] in data
    assert manifest["git"]["sha"] in data  # environment.properties reached the report
    result_docs = [json.loads(v) for k, v in files.items() if k.startswith("data/test-results/")]
    labels = {(lab["name"], lab["value"]) for doc in result_docs for lab in doc.get("labels", [])}
    assert ("epic", "predeploy") in labels
    assert ("feature", "oca.repos_present") in labels
    assert ("severity", "critical") in labels


def test_allure_results_carry_manifest_facts(demo_pack: Path) -> None:
    manifest = json.loads((demo_pack / "manifest.json").read_text())
    results = demo_pack / "allure-results"
    env = (results / "environment.properties").read_text()
    assert f"run_id={manifest['run_id']}" in env
    assert f"git.sha={manifest['git']['sha']}" in env
    assert "env=dev" in env
    executor = json.loads((results / "executor.json").read_text())
    assert manifest["run_id"] in executor["buildName"]
    cases = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    (case,) = [c for c in cases if c["name"] == "oca.repos_present · critical"]
    assert case["status"] == "passed"
    assert {"name": "feature", "value": "oca.repos_present"} in case["labels"]
    assert case["attachments"] and (results / case["attachments"][0]["source"]).is_file()


def test_report_refuses_a_tampered_pack(demo_pack: Path) -> None:
    (demo_pack / "junit.xml").write_text("<edited/>")
    proc = run_ipai("report", str(demo_pack))
    assert proc.returncode == 1
    assert "junit.xml: checksum mismatch" in proc.stderr
    assert not (demo_pack.parent / "predeploy.report.html").exists()


def test_report_without_allure_is_a_tool_error(demo_pack: Path, tmp_path: Path) -> None:
    proc = run_ipai("report", str(demo_pack), "--allure", str(tmp_path / "no-allure"))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("no-allure: command not found")


def test_offline_filter_strips_beacons_and_spots_leftovers() -> None:
    html = (
        "<html><head><title>x</title></head><body>"
        '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
        "<script>window.dataLayer = []; function gtag(){dataLayer.push(arguments);}</script>"
        "<script>var app = 1;</script></body></html>"
    )
    clean = make_offline(html)
    assert "googletagmanager" not in clean and "gtag" not in clean
    assert "var app = 1;" in clean
    assert clean.index("Content-Security-Policy") < clean.index("<title>")
    assert external_references(clean) == []
    leaky = (
        '<img src="https://evil.example/x.png"><style>a{background:url(//cdn.example/y)}</style>'
    )
    assert external_references(leaky) == ["//cdn.example/y", "https://evil.example/x.png"]


def test_report_of_a_relative_pack_path(demo_pack: Path) -> None:
    """Allure runs in a temporary folder: a pack (and --output) given relative to where the
    user stands must still be found there (it failed for every relative path)."""
    where = demo_pack.parent.parent
    relative = demo_pack.relative_to(where)
    proc = run_ipai("report", str(relative), "--output", "out.html", cwd=where)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == where / "out.html"
    assert "oca.repos_present" in "\n".join(
        embedded_files((where / "out.html").read_text()).values()
    )
