"""The pre-deploy gates on what real OCA trees and stack repositories hold: local changes named
by their whole path, conflict markers committed upstream in documentation, must-haves deleted,
renamed or only in a shallow clone, empty addons_path folders, copies of core addons, Odoo
images of another series, and tree-wide facts kept as information."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import demo_build
from test_predeploy_gates import commit, git, suite, write_manifest

OCA = Path("addons") / "oca"


def upstream(stack: Path, repo: str) -> Path:
    """A work clone of an OCA repository's upstream, to change history as maintainers do."""
    work = stack.parent / f"work-{repo}"
    git(stack.parent, "clone", "-q", str(stack.parent / "upstream" / f"{repo}.git"), str(work))
    return work


def pull(stack: Path, repo: str) -> Path:
    """Bring the stack's checkout of ``repo`` up to its (private) upstream."""
    checkout = stack / OCA / repo
    git(checkout, "remote", "set-url", "origin", str(stack.parent / "upstream" / f"{repo}.git"))
    git(checkout, "pull", "-q", "--ff-only", "origin", "18.0")
    return checkout


def test_local_change_is_named_by_its_whole_path(demo_stack: Path) -> None:
    readme = demo_stack / OCA / "server-tools" / "module_auto_update" / "__init__.py"
    readme.write_text("# changed on the host\n")
    clean = suite(demo_stack, "--env", "prod")["git.clean"]
    assert clean["error_class"] == "dirty_tree"
    assert "e.g. module_auto_update/__init__.py" in clean["message"]


def test_markers_committed_upstream_in_docs_are_a_notice(demo_stack: Path) -> None:
    work = upstream(demo_stack, "web")
    markers = "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> 17.0\n"
    (work / "web_responsive" / "readme").mkdir()
    (work / "web_responsive" / "readme" / "CONTRIBUTORS.md").write_text(markers)
    (work / "web_responsive" / "README.rst").write_text("Web Responsive\n" + markers)
    commit(work)
    git(work, "push", "-q", "origin", "HEAD:18.0")
    checkout = pull(demo_stack, "web")
    results = suite(demo_stack)
    clean = results["git.clean"]
    assert clean["status"] == "pass"
    notice = clean["measurements"]["notices"]["conflict_markers_in_docs"]
    assert notice["count"] == 4
    assert (
        "addons/oca/web/web_responsive/README.rst:2 (conflict marker, committed at HEAD)"
        in notice["examples"]
    )
    # The same markers in a file Odoo loads fail the critical gate.
    (checkout / "web_responsive" / "views.xml").write_text(markers)
    git(checkout, "add", "web_responsive/views.xml")
    clean = suite(demo_stack)["git.clean"]
    assert clean["error_class"] == "merge_conflict"
    assert (
        "web_responsive/views.xml:1 (conflict marker, a local change (not committed))"
        in (clean["message"])
    )


def test_must_have_deleted_in_the_checkout(demo_stack: Path) -> None:
    shutil.rmtree(demo_stack / OCA / "queue" / "queue_job_cron_jobrunner")
    message = suite(demo_stack)["oca.must_have"]["message"]
    assert (
        "queue_job_cron_jobrunner: not in queue (addons/oca/queue): deleted in the checkout: "
        "tracked by git at HEAD but missing from the work tree" in message
    )


def test_must_have_renamed_or_removed_upstream(demo_stack: Path) -> None:
    work = upstream(demo_stack, "server-tools")
    git(work, "mv", "base_technical_user", "base_tech_user")
    git(work, "rm", "-q", "-r", "module_auto_update")
    commit(work, "[MIG] rename base_technical_user, drop module_auto_update")
    git(work, "push", "-q", "origin", "HEAD:18.0")
    pull(demo_stack, "server-tools")
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    manifest.write_text(
        manifest.read_text().replace(
            '["base_technical_user"]', '["base_technical_user", "module_auto_update"]'
        )
    )
    commit(demo_stack)
    message = suite(demo_stack)["oca.must_have"]["message"]
    assert (
        "base_technical_user: not in server-tools (addons/oca/server-tools): renamed to base_tech_user in commit"
        in message
    )
    assert (
        "module_auto_update: not in server-tools (addons/oca/server-tools): removed in commit"
        in message
    )
    assert "[MIG] rename base_technical_user" in message


def test_must_have_in_a_shallow_clone_says_so(demo_stack: Path) -> None:
    checkout = demo_stack / OCA / "server-tools"
    shutil.rmtree(checkout)
    source = (demo_stack.parent / "upstream" / "server-tools.git").as_uri()
    git(demo_stack, "clone", "-q", "--depth", "1", "-b", "18.0", source, str(checkout))
    manifest = demo_stack / "config" / "addons_manifest.oca_ipai.json"
    manifest.write_text(manifest.read_text().replace('["base_technical_user"]', '["base_gone"]'))
    commit(demo_stack)
    message = suite(demo_stack)["oca.must_have"]["message"]
    assert (
        "base_gone: not in server-tools (addons/oca/server-tools) nor anywhere in the tree; the checkout is shallow"
        in message
    )


def test_empty_addons_path_folder_copies_of_core_and_other_series_images(
    demo_stack: Path,
) -> None:
    config = demo_stack / "ipai.toml"
    config.write_text(config.read_text().replace('"addons/ipai"]', '"addons/ipai", "addons/OCA"]'))
    (demo_stack / "addons" / "OCA" / "web").mkdir(parents=True)  # an empty submodule
    (demo_stack / "addons" / "OCA" / "web" / ".keep").write_text("")
    copy = demo_stack / "addons" / "ipai" / "hr_expense"
    write_manifest(copy, '{"name": "Expenses", "license": "LGPL-3", "depends": ["base"]}\n')
    (copy / "__init__.py").write_text("")
    compose = demo_stack / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("image: odoo:18.0@", "image: odoo:19.0@"))
    commit(demo_stack)
    results = suite(demo_stack)
    manifests = results["addons.manifests_valid"]
    assert manifests["error_class"] == "addons_path_invalid"
    assert "addons/OCA: on addons_path but holds 0 addons" in manifests["message"]
    unique = results["addons.unique_names"]
    assert unique["error_class"] == "shadows_core"
    assert (
        "hr_expense: addons/ipai/hr_expense carries the name of Odoo's own 18.0 addon"
        in (unique["message"])
    )
    compose_gate = results["compose.no_public_ports"]
    assert compose_gate["error_class"] == "image_series_mismatch"
    assert "odoo image odoo:19.0@sha256:" in compose_gate["message"]
    assert "runs Odoo 19.0, the stack is 18.0" in compose_gate["message"]


def test_tree_wide_facts_are_information(tmp_path: Path) -> None:
    stack = demo_build.build(tmp_path / "demo")
    web = stack / OCA / "web"
    write_manifest(
        web / "web_old", '{"name": "Old", "version": "16.0.1.0.0", "installable": False}\n'
    )
    write_manifest(
        web / "web_extra", '{"name": "Extra", "license": "AGPL-3", "depends": ["web_nowhere"]}\n'
    )
    (web / "web_extra" / "__init__.py").write_text("")
    deps = suite(stack)["addons.dependencies"]
    assert deps["status"] == "pass"  # neither is installed: information, not a verdict
    notices = deps["measurements"]["notices"]
    assert notices["tree_dependency_unresolved"]["examples"] == [
        "web_extra -> web_nowhere (not installed)"
    ]
    assert notices["tree_not_installable"]["examples"] == ["web_old (version 16.0.1.0.0)"]
