"""The fixtures a gate check asks for: config, policy, addons, target host, deploy start and
the gate's recorder.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from ..addons.addons_manifest import AddonsManifest, load_stack_manifest
from ..config.policy import Policy
from ..config.stack import StackConfig
from ..core.errors import IpaiError
from ..core.memo import RunMemo
from ..core.outcomes import GateError
from ..core.recorder import GateRecorder
from ..core.timeutil import parse_iso
from ..probes.hosts import Target
from .state import IpaiState, meta_key, recorder_key, state_key

if TYPE_CHECKING:  # the addons tree's modules load when a gate first asks for it
    from ..addons.stack import StackAddons


def _state(request: pytest.FixtureRequest) -> IpaiState:
    state = request.config.stash.get(state_key, None)
    if state is None:
        raise IpaiError("no pytest-ipai config: pass --ipai-config or add ipai.toml")
    return state


@pytest.fixture(scope="session")
def ipai_config(request: pytest.FixtureRequest) -> StackConfig:
    """The validated stack config, with the selected environment."""
    return _state(request).config


@pytest.fixture(scope="session")
def ipai_policy(request: pytest.FixtureRequest) -> Policy:
    return _state(request).policy


@pytest.fixture(scope="session")
def ipai_addons_manifest(request: pytest.FixtureRequest) -> AddonsManifest:
    """The addons manifest; unreadable or invalid, every gate that needs it is an error."""
    config = _state(request).config
    try:
        return load_stack_manifest(config)
    except IpaiError as exc:
        raise GateError("addons_manifest_invalid", exc.message) from None


@pytest.fixture(scope="session")
def ipai_stack_addons(
    request: pytest.FixtureRequest, ipai_addons_manifest: AddonsManifest
) -> StackAddons:
    """The addons tree along addons_path, discovered once per run: the first worker that needs
    it parses it, the others read it from the run's memo."""
    from .shared_work import addons_tree

    state = _state(request)
    try:
        return addons_tree(state.memo, state.config, ipai_addons_manifest)
    except IpaiError as exc:
        raise GateError("addons_tree_unreadable", exc.message) from None


@pytest.fixture(scope="session")
def ipai_run_memo(request: pytest.FixtureRequest) -> RunMemo:
    """Work shared by the run's workers: computed by the first that needs it (core/memo.py)."""
    return _state(request).memo


@pytest.fixture(scope="session")
def ipai_host(request: pytest.FixtureRequest) -> Target:
    """The host that host checks look at: local, or --hosts / environments.*.hosts."""
    return _state(request).target


@pytest.fixture(scope="session")
def ipai_since(request: pytest.FixtureRequest) -> datetime:
    """When the deploy started: --ipai-since, else the state file's last_deploy_timestamp."""
    given = request.config.getoption("ipai_since")
    config = _state(request).config
    if given:
        try:
            return datetime.strptime(given, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise GateError(
                "since_invalid", f"--ipai-since {given!r}: use 'YYYY-MM-DD HH:MM:SS'"
            ) from None
    state = config.env.path("state_file")
    if state is not None and state.is_file():
        try:
            stamp = json.loads(state.read_text("utf-8"))["last_deploy_timestamp"]
            return parse_iso(stamp).astimezone(UTC).replace(tzinfo=None)
        except (OSError, ValueError, KeyError, TypeError):
            raise GateError(
                "since_invalid", f"{state}: no readable last_deploy_timestamp"
            ) from None
    raise GateError(
        "since_unknown", "deploy start unknown: pass --ipai-since or set environments.*.state_file"
    )


@pytest.fixture
def ipai_gate(request: pytest.FixtureRequest) -> GateRecorder:
    """Recorder for the gate under test: measurements, attempts, blobs, and its outcome."""
    node = request.node
    meta = node.stash.get(meta_key, None)
    if meta is None:
        raise IpaiError(f"{node.nodeid}: ipai_gate is only for tests marked with a gate id")
    recorder = GateRecorder(
        gate_id=meta["gate_id"], params=dict(meta["params"]), redactor=_state(request).redactor
    )
    node.stash[recorder_key] = recorder
    return recorder
