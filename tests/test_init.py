"""``ipai init`` on real git repositories shaped like users' stacks: it reads without changing
anything, proposes a config that validates and whose pre-deploy run passes on the clean stack,
and the run names each defect planted afterwards."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import adopt_bed
import pytest
from conftest import by_gate, run_ipai
from gitrepo import commit_all, git_out, head

from pytest_ipai.config.stack import load_config


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return adopt_bed.build(tmp_path_factory.mktemp("adopt"))


@pytest.fixture
def stack(template: Path, tmp_path: Path) -> Path:
    """A private copy of the adopted stack (upstreams beside it, as the manifests' URLs say)."""
    subprocess.run(["cp", "-a", str(template.parent), str(tmp_path / "a")], check=True, timeout=60)
    return tmp_path / "a" / "stack"


def init(stack: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ipai("init", str(stack), *args)


def predeploy(stack: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    root = stack / ".ipai" / "evidence"
    before = set(root.glob("*/*")) if root.exists() else set()
    proc = run_ipai("gate", "predeploy", "--config", str(stack / "ipai.toml"), *args)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    (pack,) = [p for p in root.glob("*/*") if p.is_dir() and p not in before]
    return proc.returncode, by_gate(pack)


def test_the_preview_changes_nothing_and_says_where_each_value_came_from(stack: Path) -> None:
    before = git_out(stack, "status", "--porcelain")
    proc = init(stack)
    assert proc.returncode == 0, proc.stderr
    assert git_out(stack, "status", "--porcelain") == before  # nothing written, nothing touched
    assert not (stack / "ipai.toml").exists()
    out = proc.stdout
    assert "# from: docker-compose.prod.yml:5 (services.odoo.volumes)" in out
    assert 'odoo_conf = "config/prod/odoo.conf"' in out
    # container paths translated through a bind mount and a bind-backed named volume
    assert "/mnt/extra-addons/ipai via docker-compose.yml:13" in out
    assert "(volume ipai_addons, a bind)" in out
    assert 'addons_path = ["addons/oca/queue", "addons/oca/web", "addons/ipai"]' in out
    assert 'port_allowlist = ["*:443", "*:80"]' in out  # the proxy's, nothing else
    assert 'env = ["POSTGRES_PASSWORD"]' in out  # a name, never a value
    assert "Preview only" in out


def test_init_then_predeploy_passes_in_every_environment(stack: Path) -> None:
    proc = init(stack, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert (stack / ".gitignore").read_text().endswith("/.ipai/\n")
    data = tomllib.loads((stack / "ipai.toml").read_text())
    assert set(data["environments"]) == {"dev", "staging", "prod"}
    assert data["stack"]["default_env"] == "prod"
    assert [e["format"] for e in data["stack"]["addons_manifest"]] == [
        "ipai",
        "git-aggregator",
        "manifest-v2",
        "lock",
        "modules",
    ]
    for env in ("dev", "staging", "prod"):
        config = load_config(stack / "ipai.toml", env)  # validates
        assert config.setting("odoo_conf") == f"config/{env}/odoo.conf"
        code, results = predeploy(stack, "--env", env)
        assert code == 0, {g: r["message"] for g, r in results.items() if r["status"] != "pass"}
        assert results["odoo_conf.safe"]["measurements"]["odoo_conf"]["from"] == (
            f"environments.{env}.odoo_conf"
        )
    # the tool's own files do not dirty the tree it judges, in production
    clean = results["git.clean"]["measurements"]["notices"]["own_files_uncommitted"]
    assert clean["count"] == 2  # ipai.toml (untracked) and .gitignore (our lines only)
    merged = results["compose.no_public_ports"]
    assert merged["measurements"]["compose_files"] == [
        "docker-compose.yml",
        "docker-compose.prod.yml",
    ]
    assert merged["measurements"]["published"] == 2  # !reset removed the base's 8069


def test_init_refuses_to_overwrite_and_env_picks_one(stack: Path) -> None:
    assert init(stack, "--yes").returncode == 0
    again = init(stack, "--yes")
    assert again.returncode == 2
    assert again.stderr.strip().count("\n") == 0
    assert "exists; pass --force" in again.stderr
    forced = init(stack, "--yes", "--force", "--env", "staging")
    assert forced.returncode == 0, forced.stderr
    data = tomllib.loads((stack / "ipai.toml").read_text())
    assert list(data["environments"]) == ["staging"]
    assert data["stack"]["default_env"] == "staging"
    unknown = init(stack, "--env", "qa")
    assert unknown.returncode == 2
    assert "--env qa: no such environment" in unknown.stderr
    assert "dev, prod, staging" in unknown.stderr


def test_each_planted_defect_is_named(stack: Path) -> None:
    assert init(stack, "--yes").returncode == 0
    # the aggregator file forgets web and tracks another branch for queue
    aggregate = stack / "oca-aggregate.yml"
    text = aggregate.read_text().replace("oca 18.0", "oca 17.0", 1)
    aggregate.write_text(text.split("./addons/oca/web:")[0])
    # the prod overlay's "ports: []" does not remove what the base publishes
    prod = stack / "docker-compose.prod.yml"
    prod.write_text(prod.read_text().replace("ports: !reset []", "ports: []"))
    base = stack / "docker-compose.yml"
    base.write_text(base.read_text().replace('"127.0.0.1:8069:8069"', '"8069:8069"'))
    commit_all(stack, "drift")
    code, results = predeploy(stack)
    assert code == 1
    sync = results["addons.manifest_sync"]
    assert sync["status"] == "fail"
    assert (
        "config/addons_manifest.oca_ipai.json vs oca-aggregate.yml: 1 repositories only in "
        "config/addons_manifest.oca_ipai.json: web"
    ) in sync["message"]
    assert (
        "queue: ref 17.0 in oca-aggregate.yml, 18.0 in config/addons.manifest.yaml"
        in (sync["message"])
    )
    ports = results["compose.no_public_ports"]
    assert ports["error_class"] == "public_port"
    assert "docker-compose.yml: odoo publishes 0.0.0.0:8069 -> 8069" in ports["message"]
    notes = ports["measurements"]["notices"]["overlay_removes_nothing"]["examples"]
    assert "docker-compose.prod.yml: services.odoo.ports: [] removes nothing" in notes[0]
    others = {g for g, r in results.items() if r["status"] != "pass"}
    assert others == {"addons.manifest_sync", "compose.no_public_ports"}


def test_a_conf_baked_into_the_image_and_addons_in_a_volume(stack: Path) -> None:
    """The odoo.conf is COPY'd by the Dockerfile the service builds; the ipai addons live in
    a plain named volume, which init says it cannot read back to the repository."""
    (stack / "docker").mkdir()
    (stack / "docker" / "Dockerfile").write_text(
        "FROM odoo:18.0\nCOPY --chown=odoo \\\n  config/prod/odoo.conf /etc/odoo/odoo.conf\n"
    )
    prod = stack / "docker-compose.prod.yml"
    prod.write_text(
        prod.read_text().replace(
            "    volumes:\n      - ./config/prod/odoo.conf:/etc/odoo/odoo.conf:ro\n",
            "    build: {context: ., dockerfile: docker/Dockerfile}\n",
        )
    )
    base = stack / "docker-compose.yml"
    base.write_text(base.read_text().split("volumes:\n  ipai_addons:")[0])
    commit_all(stack, "baked")
    proc = init(stack, "--env", "prod")
    assert proc.returncode == 0, proc.stderr
    assert "# from: docker/Dockerfile:2 (COPY)" in proc.stdout
    assert 'odoo_conf = "config/prod/odoo.conf"' in proc.stdout
    assert (
        "environments.prod.addons_path: /mnt/extra-addons/ipai: named volume 'ipai_addons': "
        "its content lives in the engine, not the repository"
    ) in proc.stdout


def test_a_foreign_lock_is_read_and_written_in_its_own_shape(stack: Path) -> None:
    assert init(stack, "--yes").returncode == 0
    lock = stack / "oca.lock.json"
    data = json.loads(lock.read_text())
    data["repositories"]["web"]["commit"] = None  # the way users' locks often are
    lock.write_text(json.dumps(data, indent=2) + "\n")
    proc = run_ipai("repos", "lock", "--config", str(stack / "ipai.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = json.loads(lock.read_text())
    assert written["version"] == "2.0.0"  # their keys stay
    assert written["description"] == "pinned by our release script"
    assert written["repositories"]["web"]["tier"] == 0
    assert written["repositories"]["web"]["commit"] == head(stack / "addons/oca/web")
    ours = stack / "pinned.json"
    toml = (stack / "ipai.toml").read_text().replace('"oca.lock.json"', '"pinned.json"', 1)
    (stack / "ipai.toml").write_text(toml)
    imported = run_ipai(
        "repos", "lock", "--config", str(stack / "ipai.toml"), "--import", str(lock)
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert set(json.loads(ours.read_text())) == {"queue", "web"}
    assert (
        json.loads(ours.read_text())["queue"]["commit"]
        == written["repositories"]["queue"]["commit"]
    )


def test_several_ipai_roots_and_addons_outside_every_declared_repository(stack: Path) -> None:
    assert init(stack, "--yes", "--env", "dev").returncode == 0
    adopt_bed.demo.write_addon(stack / "addons" / "custom", "ipai_extra", ["ipai_core"])
    toml = (stack / "ipai.toml").read_text()
    toml = toml.replace('"addons/ipai"]', '"addons/ipai", "addons/custom"]')
    toml = toml.replace("[stack]\n", '[stack]\nipai_roots = ["addons/ipai", "addons/custom"]\n')
    (stack / "ipai.toml").write_text(toml)
    # beside the checkouts: an addon copied in by hand, and a checkout no file declares
    adopt_bed.demo.write_addon(stack / "addons" / "oca", "hand_copied", ["base"])
    adopt_bed.demo.write_addon(stack / "addons" / "oca" / "project-agile", "agile_a", ["base"])
    adopt_bed.demo.write_addon(stack / "addons" / "oca" / "project-agile", "agile_b", ["base"])
    commit_all(stack, "custom addons")
    code, results = predeploy(stack)
    assert code == 0, {g: r["message"] for g, r in results.items() if r["status"] != "pass"}
    roots = results["addons.dependencies"]["measurements"]["roots"]
    assert roots == 4  # queue_job, web_responsive, ipai_core and ipai_extra from the 2nd root
    present = results["oca.repos_present"]["measurements"]
    assert present["undeclared_addons"] == 3
    examples = present["notices"]["not_in_declared_repository"]["examples"]
    assert examples == [
        "addons/oca/hand_copied: an addon placed directly under the OCA root: "
        "not in any declared repository",
        "addons/oca/project-agile: a checkout of 2 addons that no manifest file lists: "
        "not in any declared repository",
    ]


def test_a_stack_of_submodules(tmp_path: Path) -> None:
    """.gitmodules is the only file naming the checkouts' paths: it drives the gates, and the
    version 2 manifest, the lock and the module list are held to it."""
    stack = adopt_bed.build(tmp_path / "sub", submodules=True)
    proc = init(stack, "--yes")
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads((stack / "ipai.toml").read_text())
    assert data["stack"]["addons_manifest"][0] == {"path": ".gitmodules", "format": "gitmodules"}
    code, results = predeploy(stack)
    assert code == 0, {g: r["message"] for g, r in results.items() if r["status"] != "pass"}
    assert results["oca.repos_present"]["measurements"]["repos_present"] == 2
    assert results["addons.manifest_sync"]["measurements"]["sources"] == 4


def test_other_gitignore_changes_still_dirty_the_tree_and_the_merged_view_keeps_no_secret(
    stack: Path,
) -> None:
    assert init(stack, "--yes").returncode == 0
    with (stack / ".gitignore").open("a") as gitignore:
        gitignore.write("/dumps/\n")  # a change of the operator's, not the tool's
    password = "Literal-Db-Passw0rd-4-prod"
    base = stack / "docker-compose.yml"
    base.write_text(base.read_text().replace("${POSTGRES_PASSWORD}", password))
    code, results = predeploy(stack)
    assert code == 1
    assert results["git.clean"]["error_class"] == "dirty_tree"
    assert ".: 2 uncommitted change(s)" in results["git.clean"]["message"]  # .gitignore too
    own = results["git.clean"]["measurements"]["notices"]["own_files_uncommitted"]
    assert own["examples"] == ["ipai.toml (??)"]
    pack = next((stack / ".ipai" / "evidence").glob("*/predeploy"))
    blob = next(
        b for b in results["compose.no_public_ports"]["blobs"] if b["name"] == "compose-merged.json"
    )
    merged = (pack / "blobs" / blob["sha256"]).read_text()
    assert "POSTGRES_PASSWORD" in merged and password not in merged
    assert all(
        password not in p.read_text(errors="replace") for p in pack.rglob("*") if p.is_file()
    )


REAL_PROD = """services:
  odoo-prod:
    image: ${ODOO_IMAGE:-ghcr.io/acme/odoo-runtime}:${RELEASE_TAG:-latest}
    ports:
      - "80:8069"
      - "8072:8072"
    volumes:
      - odoo-data-prod:/var/lib/odoo
    environment:
      - HOST=${DB_HOST}
      - PASSWORD=${DB_PASSWORD}
      - ODOO_ADMIN_PASSWORD=${ODOO_ADMIN_PASSWORD}
    command: >
      odoo
      --config=/etc/odoo/odoo.conf
      --database=odoo_prod
volumes:
  odoo-data-prod:
"""


def test_a_folder_of_compose_files_named_by_environment(tmp_path: Path) -> None:
    """The shape of a real stack: docker/compose/prod.yml and stage.yml stand alone, the
    image (its odoo.conf baked in elsewhere) comes from a variable, and prod publishes Odoo
    on every interface. init proposes what it can and says what it cannot."""
    repo = tmp_path / "real"
    files = {
        "docker/compose/prod.yml": REAL_PROD,
        "docker/compose/stage.yml": REAL_PROD.replace("prod", "stage"),
        "oca-aggregate.yml": "./addons/oca/queue:\n  remotes:\n    oca: https://github.com/OCA/queue.git\n  merges:\n    - oca 19.0\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=60)
    proc = init(repo)
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads(proc.stdout.split("\n# Preview only")[0])
    assert set(data["environments"]) == {"prod", "staging"}
    prod = data["environments"]["prod"]
    assert prod["compose_files"] == ["docker/compose/prod.yml"]
    assert prod["services"] == {"odoo": "odoo-prod"}
    assert prod["database"] == "odoo_prod"
    assert "odoo_conf" not in prod and "port_allowlist" not in prod
    assert data["secrets"]["env"] == ["DB_PASSWORD", "ODOO_ADMIN_PASSWORD"]
    assert data["stack"]["addons_manifest"] == [
        {"path": "oca-aggregate.yml", "format": "git-aggregator"}
    ]
    assert (
        "environments.prod.odoo_conf: /etc/odoo/odoo.conf in the container: not mounted from "
        "the repository, nor copied into the image it builds"
    ) in proc.stdout
    assert (
        "environments.prod.port_allowlist: odoo-prod publishes 0.0.0.0:80 on every interface"
        in (proc.stdout)
    )
