"""Every generation of addons-manifest file, read into the one model from real files (shaped
like the ones a real stack repository carries), compared pair by pair, and refused in one line
when it does not hold what its format says."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_ipai

from pytest_ipai.addons.manifest_formats import read_source
from pytest_ipai.addons.manifest_sync import compare_sources, url_key
from pytest_ipai.core.errors import InputError

FILES = {
    "config/addons_manifest.oca_ipai.json": json.dumps(
        {
            "version": 1,
            "roots": {"oca_root": "addons/oca", "ipai_root": "addons/ipai"},
            "oca_repositories": [
                {"name": "queue", "type": "git", "url": "https://github.com/OCA/queue.git",
                 "path": "addons/oca/queue"},
                {"name": "server-env", "url": "https://github.com/OCA/server-env.git",
                 "path": "addons/oca/server-env"},
            ],
            "oca_must_have_modules": {"queue": ["queue_job"]},
            "ipai": {"root": "addons/ipai"},
        }
    ),
    "addons.manifest.json": json.dumps(
        {
            "version": "1.0.0",
            "odoo_version": "18.0",
            "source": {"oca": "./addons/oca", "ipai": "./addons/ipai"},
            "mounts": [
                {"name": "OCA Queue Job", "source": "./addons/oca/queue", "required": False},
                {"name": "OCA Project Agile", "source": "./addons/oca/project-agile"},
                {"name": "IPAI Custom Addons", "source": "./addons/ipai", "required": True},
            ],
        }
    ),
    "oca-aggregate.yml": (
        "# git-aggregator\n./addons/oca/queue:\n  remotes:\n    oca: git@github.com:OCA/queue\n"
        "  merges:\n    - oca refs/heads/19.0\n    - oca refs/pull/12/head\n"
    ),
    "config/addons.manifest.yaml": (
        "version: 2\nodoo_version: '19.0'\naddon_roots:\n  oca: /opt/odoo/addons/oca\n"
        "oca_repositories:\n  - repo: queue\n    url: https://github.com/OCA/queue.git\n"
        "    ref: '19.0'\n    must_have: [queue_job, queue_job_cron_jobrunner]\n"
        "  - repo: server-brand\n    url: https://github.com/OCA/server-brand.git\n"
        "    ref: '19.0'\n    must_have:\nipai:\n  root: addons/ipai\n"
    ),
    ".gitmodules": (
        '[submodule "addons/oca/queue"]\n\tpath = addons/oca/queue\n'
        "\turl = https://github.com/OCA/queue\n\tbranch = 18.0\n"
    ),
    "oca.lock.json": json.dumps(
        {
            "version": "2.0.0",
            "repositories": {
                "queue": {"url": "https://github.com/OCA/queue", "branch": "18.0",
                          "commit": None, "tier": 2, "modules": ["queue_job"]},
            },
        }
    ),
    "ship_set.txt": "# shipped\nqueue_job\nweb_responsive  # the UI\n",
    "requirements.txt": (
        "-r base.txt\nrequests>=2\nodoo-addon-queue-job==18.0.1.2.0\n"
        "odoo14-addon-web_responsive\n"
    ),
}  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    return tmp_path


def test_each_format_is_told_from_its_name_and_content(repo: Path) -> None:
    formats = {name: read_source(repo / name, None, repo).format for name in FILES}
    assert formats == {
        "config/addons_manifest.oca_ipai.json": "ipai",
        "addons.manifest.json": "mounts",
        "oca-aggregate.yml": "git-aggregator",
        "config/addons.manifest.yaml": "manifest-v2",
        ".gitmodules": "gitmodules",
        "oca.lock.json": "lock",
        "ship_set.txt": "modules",
        "requirements.txt": "requirements",
    }


def test_each_format_keeps_what_it_declares(repo: Path) -> None:
    def read(name: str):  # type: ignore[no-untyped-def]
        return read_source(repo / name, None, repo)

    ours = read("config/addons_manifest.oca_ipai.json")
    assert ours.repos is not None and ours.repos["queue"].rel_path == "addons/oca/queue"
    assert ours.ipai_roots == ["addons/ipai"] and ours.oca_roots == ["addons/oca"]
    mounts = read("addons.manifest.json")
    assert mounts.repos is not None and sorted(mounts.repos) == ["project-agile", "queue"]
    assert mounts.ipai_roots == ["addons/ipai"] and mounts.modules is None
    aggregate = read("oca-aggregate.yml")
    queue = aggregate.repos["queue"] if aggregate.repos else None
    assert queue is not None and (queue.url, queue.ref) == ("git@github.com:OCA/queue", "19.0")
    v2 = read("config/addons.manifest.yaml")
    assert v2.repos is not None and v2.repos["queue"].rel_path is None  # no paths in v2
    assert v2.module_set() == {"queue_job", "queue_job_cron_jobrunner"}
    submodules = read(".gitmodules")
    assert submodules.repos is not None
    assert (submodules.repos["queue"].rel_path, submodules.repos["queue"].ref) == (
        "addons/oca/queue",
        "18.0",
    )
    lock = read("oca.lock.json")
    assert lock.repos is not None and lock.repos["queue"].commit is None
    assert read("ship_set.txt").module_set() == {"queue_job", "web_responsive"}
    requirements = read("requirements.txt")
    assert requirements.module_set() == {"queue_job", "web_responsive"}


def test_urls_of_one_repository_are_one_repository() -> None:
    same = {
        url_key(u)
        for u in (
            "https://github.com/OCA/queue.git",
            "https://github.com/OCA/queue/",
            "git@github.com:OCA/queue.git",
            "ssh://git@github.com/OCA/queue",
            "https://token@GitHub.com/OCA/queue",
        )
    }
    assert same == {"github.com/OCA/queue"}
    assert url_key("https://github.com/acme/queue") != url_key("https://github.com/OCA/queue")


def test_pairs_are_compared_on_what_both_declare_in_both_directions(repo: Path) -> None:
    names = ["config/addons_manifest.oca_ipai.json", "config/addons.manifest.yaml", "ship_set.txt"]
    sources = [read_source(repo / n, None, repo) for n in names]
    findings, pairs = compare_sources(sources, repo)
    messages = {f.message for f in findings}
    assert (
        "config/addons_manifest.oca_ipai.json vs config/addons.manifest.yaml: 1 repositories "
        "only in config/addons_manifest.oca_ipai.json: server-env; 1 repositories only in "
        "config/addons.manifest.yaml: server-brand"
    ) in messages
    assert (
        "config/addons.manifest.yaml vs ship_set.txt: 1 must-have modules only in "
        "config/addons.manifest.yaml: queue_job_cron_jobrunner; 1 must-have modules only in "
        "ship_set.txt: web_responsive"
    ) in messages
    # same URL written two ways is no finding; the v2 file names no path, so no path compared
    assert not any(f.error_class == "url_differs" for f in findings)
    assert pairs[0]["compared"] == ["repositories", "must-have modules"]


BAD = {
    "config/addons_manifest.oca_ipai.json": (
        '{"version": 1, "oca_repositories": [{"name": "queue"}]}',
        "oca_repositories[0].path: required key is missing",
    ),
    "addons.manifest.json": (
        '{"mounts": [{"source": "/srv/addons"}]}',
        "mounts[0].source",
    ),
    "oca-aggregate.yml": (
        "./addons/oca/queue:\n  remotes:\n    oca: u\n  merges:\n    - upstream 18.0\n",
        "./addons/oca/queue.merges[0]: remote 'upstream' is not in remotes",
    ),
    "config/addons.manifest.yaml": (
        "version: 2\noca_repositories:\n  - repo: queue\n    must_have: [queue-job!]\n",
        "oca_repositories[0].must_have[0]",
    ),
    ".gitmodules": (
        '[submodule "x"]\n\turl = https://example.invalid/x\n',
        'submodule "x": no path',
    ),
    "oca.lock.json": (
        '{"version": "2.0.0", "repositories": {"queue": {"commit": "abc123"}}}',
        "repositories.queue.commit",
    ),
    "ship_set.txt": ("queue_job\nweb responsive\n", "ship_set.txt:2: not a module technical name"),
    "requirements.txt": ("odoo-addon-queue_job\n@@@\n", "requirements.txt:2: not a requirement"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_of_every_format_is_one_line_and_exit_2(repo: Path, name: str) -> None:
    text, expected = BAD[name]
    (repo / name).write_text(text)
    first = "config/addons_manifest.oca_ipai.json"
    entries = [first] if name == first else [first, name]
    config = repo / "ipai.toml"
    config.write_text(
        f"[stack]\nseries = '18.0'\naddons_manifest = {json.dumps(entries)}\n[environments.dev]\n"
    )
    proc = run_ipai("repos", "status", "--config", str(config))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert expected in proc.stderr
    assert str(repo / name) in proc.stderr or name in proc.stderr


def test_a_format_that_cannot_be_told_asks_for_it(repo: Path) -> None:
    (repo / "addons.json").write_text('{"addons": []}')
    with pytest.raises(InputError, match=r"addons.json: cannot tell .* set its format \(ipai, "):
        read_source(repo / "addons.json", None, repo)
    with pytest.raises(InputError, match="version: required key is missing"):
        read_source(repo / "addons.json", "ipai", repo)  # a declared format is held to
