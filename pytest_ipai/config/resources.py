"""Locate the data that ships with the package: checks/, gates/ and schemas/.

The wheel installs them as the packages ``ipai_checks``, ``ipai_gates`` and ``ipai_schemas`` (an
editable install maps the same names to the repository's top-level folders), so one lookup works
from a source checkout and from an installed wheel, from any working directory.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from ..core.errors import IpaiError


@cache
def _package_dir(name: str) -> Path:
    # find_spec locates the folder without executing the package (checks/ is test code).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise IpaiError(f"installation is incomplete: package data '{name}' not found")
    return Path(next(iter(spec.submodule_search_locations)))


def checks_dir() -> Path:
    return _package_dir("ipai_checks")


def gates_dir() -> Path:
    return _package_dir("ipai_gates")


def schemas_dir() -> Path:
    return _package_dir("ipai_schemas")
