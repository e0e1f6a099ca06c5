"""Addon versions and Odoo series: ``x.y.z`` or ``<series>.x.y.z``, adapted as Odoo does."""

from __future__ import annotations

import re

_NUMERIC = re.compile(r"^\d+(\.\d+)*$")


def adapt_version(version: str, series: str) -> str:
    """The version Odoo stores in ``ir_module_module.latest_version`` (``18.0.1.3`` for ``1.3``)."""
    if version == series or not version.startswith(series + "."):
        return f"{series}.{version}"
    return version


def series_mismatch(version: str, series: str) -> str | None:
    """Why ``version`` does not fit ``series``, or None when it does.

    ``1.0.0`` and ``18.0.1.0.0`` fit 18.0; ``17.0.1.0.0`` names another series (Odoo would
    store the nonsense ``18.0.17.0.1.0.0``); non-numeric parts are not a version at all.
    """
    if not _NUMERIC.match(version):
        return f"version {version!r} is not dotted numbers"
    if version.startswith(series + "."):
        return None
    parts = version.split(".")
    if len(parts) >= 5:
        return f"version {version} is for series {parts[0]}.{parts[1]}, not {series}"
    return None
