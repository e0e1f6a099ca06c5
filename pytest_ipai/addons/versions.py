"""Addon versions and Odoo series: what Odoo's ``adapt_version`` accepts and stores.

Odoo prefixes a version that does not start with the series (``1.3`` -> ``18.0.1.3``), then
requires the part after the series to be ``x.y`` or ``x.y.z``. Anything else makes it refuse
the manifest of an installable addon (``Module X: invalid manifest``). A manifest without a
``version`` gets Odoo's default ``1.0``.
"""

from __future__ import annotations

import re

DEFAULT_VERSION = "1.0"  # Odoo's _DEFAULT_MANIFEST
_BASE = re.compile(r"^[0-9]+\.[0-9]+(?:\.[0-9]+)?$")
_SERIES_PREFIX = re.compile(r"^(\d+\.\d+)\.\d+\.\d+")


def adapt_version(version: str, series: str) -> str:
    """The version Odoo stores in ``ir_module_module.latest_version`` (``18.0.1.3`` for ``1.3``)."""
    if version == series or not version.startswith(series + "."):
        return f"{series}.{version}"
    return version


def version_problem(version: object, series: str) -> str | None:
    """Why Odoo of ``series`` refuses ``version``, or None when it accepts it."""
    if not isinstance(version, str):
        return f"version {version!r} is a {type(version).__name__}, not a string"
    if version == series or not version.startswith(series + "."):
        base = version
    else:
        base = version[len(series) + 1 :]
    if _BASE.match(base):
        return None
    other = _SERIES_PREFIX.match(version)
    if other and other.group(1) != series:
        return f"version {version} is for series {other.group(1)}, not {series}"
    return (
        f"version {version!r} is not x.y, x.y.z, {series}.x.y or {series}.x.y.z "
        "(Odoo refuses the manifest)"
    )
