"""Command-line options and markers; ``pytest_configure`` builds the run state and registers
the item side everywhere and the controller only where no xdist worker runs.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

import pytest

from ..config.resources import checks_dir
from ..core.errors import EXIT_USAGE, IpaiError
from .collection import ItemSide
from .controller import Controller
from .state import IpaiState, state_key


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipai", "pytest-ipai deploy gates")
    group.addoption(
        "--ipai-config", metavar="PATH", help="stack config (ipai.toml or pyproject.toml)"
    )
    group.addoption("--ipai-env", metavar="ENV", help="environment of the config to check")
    group.addoption(
        "--ipai-net-scope",
        choices=("stack", "host"),
        help="what net.no_public_ports judges: the stack's sockets (policy default) or the "
        "whole host (an audit)",
    )
    group.addoption("--ipai-evidence-root", metavar="DIR", help="where evidence packs are written")
    group.addoption("--ipai-run-id", metavar="ID", help="run id (default: UTC time + random)")
    group.addoption(
        "--ipai-suite",
        metavar="SUITE",
        help="suite of this run (default: from -m when it names one)",
    )
    group.addoption(
        "--ipai-progress",
        choices=("auto", "lines", "off"),
        default="off",
        help="one line per finished gate (auto: colour on a terminal, plain in CI)",
    )
    group.addoption(
        "--ipai-since",
        metavar="'YYYY-MM-DD HH:MM:SS'",
        help="deploy start in the log's clock (default: the state file, else window before now)",
    )
    group.addoption(
        "--ipai-decide",
        action="store_true",
        help="decide promote / hold / rollback from the results (decision.json in the pack)",
    )
    group.addoption(
        "--ipai-override",
        choices=("promote", "hold", "rollback"),
        help="operator override of the decision (needs --ipai-override-reason)",
    )
    group.addoption("--ipai-override-reason", metavar="TEXT", help="why the decision is overridden")
    group.addoption(
        "--ipai-policy-layer",
        metavar="PATH",
        help="a policy file laid over the environment's for this run (a rollback's re-verify)",
    )
    group.addoption(
        "--ipai-report-to", metavar="FILE", help="write {pack, exit_code} as JSON here (ipai gate)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "predeploy: gate of the pre-deploy suite")
    config.addinivalue_line("markers", "postdeploy: gate of the post-deploy suite")
    config.addinivalue_line(
        "markers", "gate(gate_id, severity=None): a deploy gate with a stable, unique id"
    )
    try:
        state = IpaiState.create(config)
    except IpaiError as exc:
        # One line ("Exit: ipai: ..."), exit 2: a bad config must not look like a failed gate.
        pytest.exit(f"ipai: {exc.message}", returncode=EXIT_USAGE)
    if state is None:
        return
    config.stash[state_key] = state
    config.pluginmanager.register(ItemSide(state), "ipai-item-side")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Controller(config, state), "ipai-controller")
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # No paths given: the suites are the bundled checks, wherever pytest was started.
        config.args = [str(checks_dir())]
