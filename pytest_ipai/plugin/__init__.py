"""The pytest plugin (entry point ``pytest11: ipai``): pytest glue only.

``options`` declares the command-line options and markers and builds the run state; ``collection``
turns marked checks into gates and attaches each phase's verdict to its report (``classify``);
``fixtures`` are what checks ask for; ``controller`` (never an xdist worker) turns reports into
results, journals them and publishes the pack; ``progress`` prints a line per gate; ``xdist``
is the glue to pytest-xdist. This is the one package that imports pytest: it may import every
other package of pytest_ipai, and nothing in pytest_ipai imports it.

pytest reads hooks and fixtures from this module's namespace, hence the names below.

PYTEST_DONT_REWRITE: pytest rewrites the asserts of a plugin's modules on every run that
cannot cache them; the plugin states nothing through ``assert``, so that work is skipped.
"""

from .collection import pytest_collect_file
from .fixtures import (
    ipai_addons_manifest,
    ipai_config,
    ipai_gate,
    ipai_host,
    ipai_policy,
    ipai_run_memo,
    ipai_since,
    ipai_stack_addons,
)
from .options import pytest_addoption, pytest_configure
from .progress import pytest_report_teststatus
from .xdist import pytest_collection_modifyitems, pytest_configure_node

__all__ = [
    "ipai_addons_manifest",
    "ipai_config",
    "ipai_gate",
    "ipai_host",
    "ipai_policy",
    "ipai_run_memo",
    "ipai_since",
    "ipai_stack_addons",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_report_teststatus",
]
