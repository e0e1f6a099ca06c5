"""Odoo's own addons per series and edition, from manifestoo-core."""

from __future__ import annotations

from functools import cache

from manifestoo_core.core_addons import get_core_addons, is_core_ce_addon
from manifestoo_core.odoo_series import OdooSeries

from ..core.errors import IpaiError


def _series(series: str) -> OdooSeries:
    try:
        return OdooSeries(series)
    except ValueError:
        raise IpaiError(f"series {series}: manifestoo-core knows no such Odoo series") from None


@cache
def core_ce(series: str) -> frozenset[str]:
    """Core Community addons (``base``, ``web``, ``mail``, ...)."""
    odoo = _series(series)
    return frozenset(a for a in get_core_addons(odoo) if is_core_ce_addon(a, odoo))


@cache
def core_ee(series: str) -> frozenset[str]:
    """Core Enterprise-only addons: a dependency on one cannot install on Community."""
    return frozenset(get_core_addons(_series(series))) - core_ce(series)
