"""pytest-xdist glue: workers share the controller's run id; a host's checks are marked as one
xdist group.

PYTEST_DONT_REWRITE (see __init__.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from .state import state_key


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Checks of one host share an xdist group: one worker, one connection to that host. First,
    so that xdist's loadgroup sees the marks. An optimisation only: nothing depends on it
    (pytest 9.2 with pytest-xdist 3.8 ignores the groups, and each worker connects itself)."""
    state = config.stash.get(state_key, None)
    if state is None:
        return
    group = pytest.mark.xdist_group(state.target.group)
    for item in items:
        if "ipai_host" in getattr(item, "fixturenames", ()):
            item.add_marker(group)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist hook (controller): workers share the controller's run id and its memo folder."""
    state = node.config.stash.get(state_key, None)
    if state is not None:
        node.workerinput["ipai_run_id"] = state.run_id
        node.workerinput["ipai_memo_dir"] = str(state.memo.directory or "")
