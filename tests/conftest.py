"""Shared fixtures: the demo stack built with real git, and pytester projects with a policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from isolation import (
    IsolationUnavailable,
    PrivateContainerStore,
    PrivatePostgres,
    enter_private_network,
    public_listeners,
)
from loopback import free_port
from odoo_db import drop_test_databases, make_odoo_db
from podman_bed import runtime_mounts
from routing_proxy import RoutingProxy
from stack_env import seed_modules, set_env_keys
from standin_process import Standin

from pytest_ipai.config.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "demo"))

import build as demo_build  # noqa: E402

__all__ = ["demo_build"]

IPAI = [sys.executable, "-m", "ipai_ops.cli"]
pytest_plugins = ["deploy_bed"]  # the `site` fixture of the deploy tests
postgres_key = pytest.StashKey[PrivatePostgres]()
store_key = pytest.StashKey[PrivateContainerStore]()


def pytest_configure(config: pytest.Config) -> None:
    """Isolate every process that runs tests (see isolation.py) before any fixture starts."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # the xdist controller runs no test; each worker isolates itself
    try:
        enter_private_network()
        store = config.stash[store_key] = PrivateContainerStore()
        os.environ.update(store.env)  # every podman this process starts uses its own store
        # the validity cache of this process and the commands it runs, never the user's
        os.environ["IPAI_CACHE_DIR"] = tempfile.mkdtemp(prefix="ipai-cache-")
        config.stash[postgres_key] = PrivatePostgres()
    except (IsolationUnavailable, OSError, subprocess.SubprocessError) as exc:
        pytest.exit(f"test isolation: {exc}", returncode=2)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(postgres_key, None)
    if server is not None:
        server.stop()
    store = config.stash.get(store_key, None)
    if store is not None:
        store.remove()
    cache_dir = os.environ.get("IPAI_CACHE_DIR")
    if cache_dir and Path(cache_dir).name.startswith("ipai-cache-"):
        shutil.rmtree(cache_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def guard_public_listeners() -> Any:
    """A test leaves no public listener behind: the next test in this process would see it."""
    yield
    left = public_listeners()
    if left:
        pytest.fail(
            "the test left public listeners: " + ", ".join(s.describe() for s in left),
            pytrace=False,
        )


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo stack, built once; tests take copies."""
    return demo_build.build(tmp_path_factory.mktemp("demo-template") / "demo")


@pytest.fixture
def demo_stack(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo stack (its repos and upstreams), so a test may break it."""
    target = tmp_path / "demo"
    shutil.copytree(demo_template.parent, target, symlinks=True)
    return target / "stack"


def run_ipai(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IPAI, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def only_pack(root: Path) -> Path:
    packs = [p for p in root.glob("*/*") if p.is_dir()]
    assert len(packs) == 1, packs
    return packs[0]


def load(pack: Path, name: str = "results.json") -> Any:
    return json.loads((pack / name).read_text())


def by_gate(pack: Path) -> dict[str, dict[str, Any]]:
    return {r["gate_id"]: r for r in load(pack)["results"]}


POLICY_HEAD = """
suite = "predeploy"
[defaults]
severity = "normal"
required = true
timeout = 60
"""


def bundled_off(keep: Iterable[str] = ()) -> str:
    """Policy lines turning off every bundled gate but ``keep`` (a synthetic project's own)."""
    return "".join(
        f'[gates."{gate}"]\nenabled = false\n'
        for gate in sorted(load_policy().gates)
        if gate not in set(keep)
    )


class Project:
    """A pytester project with ipai.toml and a policy naming the gates it expects."""

    def __init__(
        self, pytester: pytest.Pytester, gates: dict[str, dict[str, Any]], suite: str = "predeploy"
    ) -> None:
        self.pytester = pytester
        self.path = pytester.path
        (self.path / "addons.json").write_text(json.dumps({"version": 1, "oca_repositories": []}))
        # Gates named here are this project's; a bundled gate of the same id is redefined.
        policy = [POLICY_HEAD.replace("predeploy", suite), bundled_off(keep=gates)]
        for gate_id, options in gates.items():
            policy.append(f'[gates."{gate_id}"]')
            policy += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
        (self.path / "policy.toml").write_text("\n".join(policy) + "\n")
        (self.path / "ipai.toml").write_text(
            '[stack]\naddons_manifest = "addons.json"\n'
            '[secrets]\nenv = ["IPAI_TEST_SECRET"]\n'
            '[environments.dev]\npolicy = "policy.toml"\nevidence_root = "evidence"\n'
        )

    @property
    def evidence(self) -> Path:
        return self.path / "evidence"

    def run(self, *args: str, xdist: bool, timeout: float = 120) -> pytest.RunResult:
        extra: Sequence[str] = ("-n", "2") if xdist else ()
        return self.pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            "--ipai-config",
            "ipai.toml",
            "-m",
            "predeploy",
            *extra,
            *args,
            ".",
            timeout=timeout,
        )


@pytest.fixture
def project(pytester: pytest.Pytester) -> Any:
    def make(gates: dict[str, dict[str, Any]], suite: str = "predeploy") -> Project:
        return Project(pytester, gates, suite)

    return make


@pytest.fixture(autouse=True)
def _no_ci_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    # Subprocess output is not a terminal anyway; keep runs independent of the caller's CI flag.
    monkeypatch.delenv("IPAI_CONFIG", raising=False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("IPAI_ALLURE", raising=False)


@pytest.fixture(scope="session")
def demo_pack_template(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real pack of the demo stack's pre-deploy run (made once)."""
    root = tmp_path_factory.mktemp("demo-evidence")
    proc = run_ipai(
        "gate",
        "predeploy",
        "--config",
        str(demo_template / "ipai.toml"),
        "--evidence-root",
        str(root),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return only_pack(root)


@pytest.fixture
def demo_pack(demo_pack_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "20261124-1200" / "predeploy"
    shutil.copytree(demo_pack_template, target)
    return target


def assert_predeploy_passes_from(python: str, stack: Path, cwd: Path) -> None:
    """``pytest -m predeploy --ipai-config`` run from ``cwd`` passes and writes the stack's pack."""
    proc = subprocess.run(
        [
            python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "predeploy",
            "--ipai-config",
            str(stack / "ipai.toml"),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pack = only_pack(stack / "evidence")
    assert by_gate(pack)["oca.repos_present"]["status"] == "pass"


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The container test bed (podman's Docker API and the stand-in image), one per process."""
    from podman_bed import Bed, BedUnavailable

    try:
        started = Bed(tmp_path_factory.mktemp("bed"))
    except BedUnavailable as exc:
        pytest.fail(f"test bed: {exc}", pytrace=False)  # a missing bed is a failure, not a skip
    yield started
    started.close()


@pytest.fixture
def stack_db(demo_stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bed: Any) -> Any:
    db = make_odoo_db(tmp_path, partners=100, files=1)
    try:
        seed_modules(db)
        set_env_keys(
            demo_stack,
            database=db.name,
            engine_socket=bed.socket,
            compose_project=bed.project(tmp_path),
        )
        monkeypatch.setenv("DEMO_DSN", db.dsn)
        yield demo_stack, db
    finally:
        drop_test_databases(db.name)


def run_suite(
    stack: Path, suite: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    """``ipai gate SUITE`` on a stack: the process and the new pack's results by gate id.
    The pack must verify; the exit code must be a verdict (0 or 1), not a tool error."""
    root = stack / "evidence"
    before = set(root.glob("*/*")) if root.exists() else set()
    proc = run_ipai("gate", suite, "--config", str(stack / "ipai.toml"), *extra)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    (pack,) = [p for p in root.glob("*/*") if p.is_dir() and p not in before]
    assert run_ipai("evidence", "verify", str(pack)).returncode == 0
    assert pack.name.startswith(suite)  # predeploy, postdeploy-<env>
    return proc, by_gate(pack)


def postdeploy(stack: Path, *extra: str) -> dict[str, dict[str, Any]]:
    proc, results = run_suite(stack, "postdeploy", *extra)
    assert "/postdeploy-dev" in proc.stdout  # the pack's scope names the environment
    return results


@pytest.fixture
def standin(stack_db: Any, tmp_path: Path) -> Any:
    """Start the stand-in with flags, pointed at the stack's database; the config follows it."""
    stack, db = stack_db
    started: list[Standin] = []

    def start(*flags: str, dsn: str | None = db.dsn) -> Standin:
        for old in started:
            old.stop()
        started.clear()
        server = Standin(dsn, tmp_path / f"odoo-{len(flags)}.log", *flags)
        started.append(server)
        config = stack / "ipai.toml"
        text = config.read_text()
        import re as _re

        config.write_text(
            _re.sub(r'base_url = "[^"]*"', f'base_url = "{server.url}"', text, count=1)
        )
        return server

    yield start
    for server in started:
        server.stop()


@dataclass
class Odoo:
    name: str
    port: int


@pytest.fixture
def odoo(stack_db: Any, bed: Any, tmp_path: Path) -> Any:
    """Run the stand-in as the stack's odoo container (and a db container) with flags."""
    stack, db = stack_db
    project = bed.project(tmp_path)
    names: list[str] = []

    def start(*flags: str, workers: int = 2, dsn: str | None = db.dsn, **options: Any) -> Odoo:
        bed.remove(*names)
        names.clear()
        for old in proxies:
            old.close()
        port, gevent_port = free_port(), free_port()
        name = f"{project}-odoo-{len(flags)}"
        names.append(name)  # before it starts: a container that never comes up is removed too
        bed.standin(
            name,
            port,
            "--workers",
            str(workers),
            "--gevent-port",
            str(gevent_port),
            *flags,
            dsn=dsn,
            project=project,
            **options,
        )
        proxy = RoutingProxy(port, gevent_port)  # the public URL, as nginx would route it
        proxies.append(proxy)
        # The compose file of what runs: runtime.code_current compares the container with it.
        running = stack / "deploy" / "running.yaml"
        running.parent.mkdir(exist_ok=True)
        volumes = [f"{host}:{inside}:ro" for host, inside in runtime_mounts()]
        running.write_text(yaml.safe_dump(
            {"services": {"odoo": {"image": bed.image, "volumes": volumes}}}))  # fmt: skip
        set_env_keys(
            stack,
            base_url=proxy.url,
            longpolling_url=f"http://127.0.0.1:{gevent_port}",
            workers=2,
            log_source={"container": "odoo"},
            services={"odoo": "odoo"},
            compose_files=["deploy/running.yaml"],
        )
        return Odoo(name, port)

    proxies: list[RoutingProxy] = []
    try:
        yield start
    finally:
        bed.remove(*names)
        for proxy in proxies:
            proxy.close()
