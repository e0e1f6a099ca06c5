"""The pre-deploy suite end to end on real git repositories: every gate passes on the demo
stack and fails with each of its error classes when the stack is broken that way."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import demo_build, run_ipai, run_suite

PREDEPLOY = {
    "oca.repos_present",
    "oca.repos_ref",
    "oca.must_have",
    "addons.manifests_valid",
    "addons.unique_names",
    "addons.dependencies",
    "git.clean",
    "secrets.none_committed",
    "compose.no_public_ports",
    "odoo_conf.safe",
    "pipeline.no_bypass",
    "addons.manifest_sync",
}


def suite(stack: Path, *extra: str) -> dict[str, dict[str, Any]]:
    proc, results = run_suite(stack, "predeploy", *extra)
    assert set(results) == PREDEPLOY
    assert proc.returncode == (0 if all(r["status"] == "pass" for r in results.values()) else 1)
    return results


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()


def commit(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def classes(result: dict[str, Any]) -> set[str]:
    return set(result["measurements"].get("error_classes", {result["error_class"]: 1}))


def write_manifest(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__manifest__.py").write_text(text)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_demo_stack_passes_every_gate(demo_stack: Path, env: str) -> None:
    results = suite(demo_stack, "--env", env)
    assert {g: r["status"] for g, r in results.items()} == dict.fromkeys(PREDEPLOY, "pass")
    deps = results["addons.dependencies"]
    assert deps["measurements"]["roots"] == 6  # 4 must-have + 2 ipai_*
    blob = next(b for b in deps["blobs"] if b["name"] == "dependencies.json")
    pack = next((demo_stack / "evidence").glob("*/*"))
    data = json.loads((pack / "blobs" / blob["sha256"]).read_text())
    assert data["install_order"].index("queue_job") < data["install_order"].index("ipai_core")
    assert {"base", "web"} <= set(data["core"])


def test_broken_demo_fails_every_gate_with_its_class(tmp_path: Path) -> None:
    stack = demo_build.build(tmp_path / "broken", broken=True)
    results = suite(stack)
    expected = {
        "oca.repos_present": "repo_missing",
        "oca.repos_ref": "repo_ref_mismatch",
        "oca.must_have": "must_have_not_found",
        "addons.manifests_valid": "manifest_syntax_error",
        "addons.unique_names": "duplicate_module",
        "addons.dependencies": "dependency_cycle",
        "git.clean": "merge_conflict",
        "secrets.none_committed": "secret_committed",
        "compose.no_public_ports": "public_port",
        "odoo_conf.safe": "master_password_weak",
        "pipeline.no_bypass": "failure_swallowed",
        "addons.manifest_sync": "must_have_differs",
    }
    assert {g: (r["status"], r["error_class"]) for g, r in results.items()} == {
        g: ("fail", c) for g, c in expected.items()
    }
    deps = results["addons.dependencies"]
    assert classes(deps) == {"unresolved_dependency", "core_ee_on_community", "dependency_cycle"}
    assert "ipai_missing_dep -> sale_subscription_oca (not found)" in deps["message"]
    must = results["oca.must_have"]["message"]
    assert "base_technical_user: not in queue (addons/oca/queue); it lives in server-tools" in must
    assert "listed under the wrong repository" in must
    assert "GitHub Token at deploy.env:1" in results["secrets.none_committed"]["message"]
    assert "ghp_" not in json.dumps(results)
    clean = results["git.clean"]
    assert (
        "addons/ipai/ipai_core/data/records.xml:1 (conflict marker, committed at HEAD)"
        in (clean["message"])
    )
    assert "README.rst" not in clean["message"]  # documentation: a notice, not the verdict
    notices = clean["measurements"]["notices"]["conflict_markers_in_docs"]
    assert notices["count"] == 2
    assert notices["examples"][0] == (
        "addons/ipai/ipai_core/README.rst:1 (conflict marker, committed at HEAD)"
    )
    cycle = deps["message"]
    assert cycle.startswith("ipai_cycle_a -> ipai_cycle_b -> ipai_cycle_a")  # most severe first
    assert "also: core_ee_on_community (1), e.g. ipai_studio -> web_studio" in cycle
    assert "unresolved_dependency (" in cycle and "e.g. " in cycle
    assert ".github/workflows/ci.yml:9" in results["pipeline.no_bypass"]["message"]
    assert "odoo publishes 0.0.0.0:8069 -> 8069" in results["compose.no_public_ports"]["message"]
    assert "queue: HEAD" in results["oca.repos_ref"]["message"]
    dup = results["addons.unique_names"]["message"]
    assert "Odoo loads addons/oca/queue/queue_job, first in addons_path" in dup
    manifests = results["addons.manifests_valid"]["message"]
    assert "addons/ipai/ipai_broken_manifest/__manifest__.py:" in manifests


def test_production_rules(demo_stack: Path) -> None:
    lock = demo_stack / "oca.lock.json"
    data = json.loads(lock.read_text())
    del data["web"]
    lock.write_text(json.dumps(data))
    conf = demo_stack / "odoo.conf"
    conf.write_text(
        conf.read_text()
        .replace("list_db = False", "list_db = True")
        .replace("workers = 2", "workers = 0")
        .replace("proxy_mode = True", "proxy_mode = False")
    )
    compose = demo_stack / "docker-compose.yml"
    text = compose.read_text()
    compose.write_text(
        text[: text.index("odoo:18.0@")]
        + "odoo:18.0"
        + text[text.index("\n", text.index("odoo:18.0@")) :]
    )
    results = suite(demo_stack, "--env", "prod")
    assert results["oca.repos_ref"]["error_class"] == "unpinned_ref"
    assert (
        "web: detached at" in results["oca.repos_ref"]["message"]
        or "web: on branch 18.0" in results["oca.repos_ref"]["message"]
    )
    assert results["git.clean"]["error_class"] == "dirty_tree"
    assert results["compose.no_public_ports"]["error_class"] == "unpinned_image"
    assert "a tag, not a digest" in results["compose.no_public_ports"]["message"]
    odoo = results["odoo_conf.safe"]
    assert odoo["error_class"] == "db_manager_exposed"
    assert classes(odoo) == {"db_manager_exposed", "proxy_mode_off", "workers_disabled"}
    # The same changes are fine for dev, except what is wrong everywhere.
    dev = suite(demo_stack, "--env", "dev")
    assert dev["git.clean"]["status"] == "pass"
    assert dev["oca.repos_ref"]["status"] == "pass"
    assert dev["compose.no_public_ports"]["status"] == "pass"
    assert dev["odoo_conf.safe"]["status"] == "pass"


def test_module_and_manifest_faults(demo_stack: Path) -> None:
    oca = demo_stack / "addons" / "oca"
    web = oca / "web" / "web_responsive" / "__manifest__.py"
    web.write_text(web.read_text().replace('"installable": True', '"installable": False'))
    tech = oca / "server-tools" / "base_technical_user" / "__manifest__.py"
    tech.write_text(tech.read_text().replace('"18.0.1.0.0"', '"17.0.1.0.0"'))
    ipai = demo_stack / "addons" / "ipai"
    write_manifest(ipai / "ipai_list_manifest", '["not", "a", "dict"]\n')
    (ipai / "ipai_list_manifest" / "__init__.py").write_text("")
    write_manifest(ipai / "ipai_no_init", '{"name": "No init", "license": "LGPL-3"}\n')
    (ipai / "ipai_no_init" / "models.py").write_text("from odoo import models\n")
    write_manifest(ipai / "ipai_data_only", '{"name": "Data only", "license": "LGPL-3"}\n')
    results = suite(demo_stack)
    must = results["oca.must_have"]
    assert must["error_class"] == "module_not_installable"
    assert classes(must) == {"module_not_installable", "version_series_mismatch"}
    assert (
        "web_responsive (addons/oca/web/web_responsive): 'installable' is False" in must["message"]
    )
    assert (
        "base_technical_user (addons/oca/server-tools/base_technical_user): version 17.0.1.0.0 is for series 17.0, not 18.0"
        in must["message"]
    )
    manifests = results["addons.manifests_valid"]
    assert classes(manifests) == {"manifest_invalid", "addon_not_package", "version_invalid"}
    assert (
        "addons/ipai/ipai_no_init: addon_not_package: Python files but no __init__.py: Odoo "
        "installs it as an empty namespace package" in manifests["message"]
    )
    assert "ipai_data_only" not in manifests["message"]  # no Python, no __init__.py: fine
    notices = manifests["measurements"]["notices"]
    assert notices["not_installable"]["examples"] == [
        "addons/oca/web/web_responsive/__manifest__.py:8: 'installable' is False: '-i' of it "
        "does nothing and says nothing"
    ]
    assert (
        "addons/ipai/ipai_list_manifest/__manifest__.py:1: manifest_invalid: not a single dict literal"
        in manifests["message"]
    )
    deps = results["addons.dependencies"]
    assert deps["error_class"] == "unresolved_dependency"
    assert "web_responsive (not installable)" in deps["message"]


def test_must_have_not_migrated_and_not_anywhere(demo_stack: Path) -> None:
    upstream = demo_stack.parent / "upstream" / "web.git"
    work = demo_stack.parent / "web-17"
    git(demo_stack.parent, "clone", "-q", str(upstream), str(work))
    git(work, "checkout", "-q", "-b", "17.0")
    write_manifest(work / "web_legacy_widget", '{"name": "Legacy", "version": "17.0.1.0.0"}\n')
    (work / "web_legacy_widget" / "__init__.py").write_text("")
    commit(work)
    git(work, "push", "-q", "origin", "17.0")
    checkout = demo_stack / "addons" / "oca" / "web"
    git(checkout, "remote", "set-url", "origin", str(upstream))  # the copy's own upstream
    git(checkout, "fetch", "-q", "origin")
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    data = json.loads(manifest.read_text())
    data["oca_must_have_modules"]["web"] += ["web_legacy_widget", "web_renamed_away"]
    data["oca_must_have_modules"]["reporting-engine"] = ["report_xlsx"]
    manifest.write_text(json.dumps(data))
    commit(demo_stack)
    message = suite(demo_stack)["oca.must_have"]["message"]
    assert (
        "web_legacy_widget: not in web (addons/oca/web) on 18.0; present on 17.0: not migrated to 18.0 yet"
        in message
    )
    assert "web_renamed_away: not in web (addons/oca/web) nor anywhere in the tree" in message
    assert (
        "report_xlsx: listed under 'reporting-engine', a repository the manifest does not have"
        in message
    )


def test_ref_mismatch_without_lock(demo_stack: Path) -> None:
    (demo_stack / "oca.lock.json").unlink()
    commit(demo_stack)
    queue = demo_stack / "addons" / "oca" / "queue"
    git(queue, "checkout", "-q", "-b", "experiment")
    git(queue, "commit", "-q", "--allow-empty", "-m", "experiment")
    ref = suite(demo_stack)["oca.repos_ref"]
    assert ref["error_class"] == "repo_ref_mismatch"
    assert ref["message"] == "queue: on branch experiment, expected 18.0"


def test_hygiene_faults(demo_stack: Path) -> None:
    workflow = demo_stack / ".github" / "workflows" / "ci.yml"
    workflow.write_text(
        workflow.read_text()
        + (
            "  tests:\n    runs-on: ubuntu-latest\n    continue-on-error: true\n    steps:\n"
            "      - run: pytest -m predeploy\n"
            "  publish:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - run: rm -f build.log || true\n"
            "      - run: git push --no-verify origin main\n"
            "      - run: echo CODEX_SKIP > verdict\n"
        )
    )
    key_body = "MIIEow" + "IBAAKCAQEA" * 3
    (demo_stack / "deploy").mkdir()
    (demo_stack / "deploy" / "id_rsa").write_text(
        f"-----BEGIN RSA PRIVATE KEY-----\n{key_body}\n-----END RSA PRIVATE KEY-----\n"
    )
    (demo_stack / "deploy" / "settings.py").write_text(
        "password = False\nDB_PASSWORD = os.environ['DB_PASSWORD']\nAWS = 'AKIAIOSFODNN7EXAMPLE'\n"
    )
    commit(demo_stack)
    # A real merge conflict: two branches change the same line of a file Odoo loads.
    notes = demo_stack / "addons" / "ipai" / "ipai_core" / "records.csv"
    notes.write_text("base\n")
    commit(demo_stack)
    git(demo_stack, "checkout", "-q", "-b", "other")
    notes.write_text("theirs\n")
    commit(demo_stack)
    git(demo_stack, "checkout", "-q", "main")
    notes.write_text("ours\n")
    commit(demo_stack)
    subprocess.run(
        ["git", "-C", str(demo_stack), "merge", "-q", "other"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    results = suite(demo_stack)
    pipeline = results["pipeline.no_bypass"]["message"]
    assert (
        ".github/workflows/ci.yml:12: continue-on-error: true on a step that runs a gate command"
        in pipeline
    )
    assert "--no-verify" in pipeline
    assert "simulated review verdict" in pipeline
    assert "rm -f" not in pipeline and ":18:" not in pipeline  # || true outside a gate step is fine
    secrets = results["secrets.none_committed"]["message"]
    assert "Private Key at deploy/id_rsa:1" in secrets
    assert "AWS Access Key at deploy/settings.py:3" in secrets
    assert "settings.py:1" not in secrets and "settings.py:2" not in secrets
    assert key_body not in json.dumps(results) and "AKIAIOSFODNN7EXAMPLE" not in json.dumps(results)
    clean = results["git.clean"]
    assert clean["error_class"] == "merge_conflict"
    assert "addons/ipai/ipai_core/records.csv: unmerged" in clean["message"]
    assert "records.csv:1 (conflict marker, a local change (not committed))" in clean["message"]


def test_bad_addons_manifest_is_an_error_for_every_gate_that_needs_it(demo_stack: Path) -> None:
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    manifest.write_text('{"version": 1,\n "oca_repositories": [\n')
    results = suite(demo_stack)
    for gate_id in ("oca.repos_present", "oca.must_have", "addons.dependencies"):
        assert results[gate_id]["status"] == "error"
        assert results[gate_id]["error_class"] == "addons_manifest_invalid"
        assert "addons_manifest.oca_ipai.json:3:1: invalid JSON" in results[gate_id]["message"]
    proc = run_ipai("repos", "status", "--config", str(demo_stack / "ipai.toml"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid JSON" in proc.stderr


def test_large_file_and_wrong_types(demo_stack: Path) -> None:
    big = demo_stack / "addons" / "ipai" / "ipai_core" / "data" / "big.csv"
    big.parent.mkdir()
    with open(big, "w") as fh:
        line = "id,name,password_hint\n" + "1,row,none\n" * 1000
        for _ in range(4500):  # about 50 MB of text
            fh.write(line)
    commit(demo_stack)
    results = suite(demo_stack)
    assert all(r["status"] == "pass" for r in results.values()), {
        g: r["message"] for g, r in results.items() if r["status"] != "pass"
    }
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    data = json.loads(manifest.read_text())
    data["oca_repositories"] = {"queue": "addons/oca/queue"}
    manifest.write_text(json.dumps(data))
    results = suite(demo_stack)
    assert results["oca.repos_present"]["error_class"] == "addons_manifest_invalid"
    assert results["oca.repos_present"]["message"].endswith(
        "addons_manifest.oca_ipai.json: oca_repositories: expected array, got object"
    )


def test_pack_records_commits_and_model_versions(demo_stack: Path) -> None:
    suite(demo_stack)
    pack = next((demo_stack / "evidence").glob("*/*"))
    manifest = json.loads((pack / "manifest.json").read_text())
    lock = json.loads((demo_stack / "oca.lock.json").read_text())
    assert {r["name"]: r["commit"] for r in manifest["addons_repos"]} == {
        name: entry["commit"] for name, entry in lock.items()
    }
    assert manifest["tools"]["manifestoo-core"]


def test_a_stack_without_oca_repositories_passes_what_it_does_not_declare(
    demo_stack: Path,
) -> None:
    """Odoo CE plus in-house addons only: the OCA gates read a manifest that declares nothing,
    so they pass and say so; every other gate judges what is there."""
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    data = json.loads(manifest.read_text())
    data["oca_repositories"], data["oca_must_have_modules"] = [], {}
    manifest.write_text(json.dumps(data))
    config = demo_stack / "ipai.toml"
    config.write_text(config.read_text().replace(
        'addons_path = ["addons/oca/queue", "addons/oca/server-tools", "addons/oca/web", '
        '"addons/ipai"]', 'addons_path = ["addons/ipai"]'))  # fmt: skip
    for name in ("queue", "server-tools", "web"):
        shutil.rmtree(demo_stack / "addons" / "oca" / name)
    commit(demo_stack, "no OCA")
    results = suite(demo_stack)
    for gate in ("oca.repos_present", "oca.repos_ref", "oca.must_have"):
        assert results[gate]["status"] == "pass", results[gate]["message"]
        measured = results[gate]["measurements"]
        assert measured["nothing_declared"] is True
        assert measured["notices"]["nothing_declared"]["count"] == 1
    notices = {g: str(results[g]["measurements"].get("notices")) for g in results}
    assert "addons_manifest.oca_ipai.json declares no OCA repository" in notices["oca.repos_ref"]
    assert "declares no must-have module" in notices["oca.must_have"]
    # The demo's own addons need OCA modules: nothing declared does not mean nothing needed.
    assert results["addons.dependencies"]["error_class"] == "unresolved_dependency"
