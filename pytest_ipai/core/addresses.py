"""Addresses and the port allowlist (``ADDRESS:PORT``, ``[::1]:PORT``, ``*:PORT``), shared by the
compose check and the socket check."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

EVERYWHERE = frozenset({"", "*", "0.0.0.0", "::"})  # noqa: S104 - these are what we look for


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def allowed(address: str, port: str, allowlist: Iterable[str]) -> bool:
    """Whether ``address:port`` is allowed; ``*`` in the list allows any address for that port,
    and an entry for 0.0.0.0 or :: covers every-interface bindings of either family."""
    for entry in allowlist:
        listed, _, listed_port = entry.rpartition(":")
        listed = listed.strip("[]")
        if listed_port != port:
            continue
        if listed in ("*", address) or (address in EVERYWHERE and listed in EVERYWHERE):
            return True
    return False
