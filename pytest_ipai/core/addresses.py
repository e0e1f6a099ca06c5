"""Addresses and the port allowlist, shared by the compose check and the socket check.

An entry is ``[tcp:|udp:]ADDRESS[/PREFIX]:PORT``: ``127.0.0.1:8069``, ``[::1]:8069``, ``*:443``,
``udp:10.89.0.0/16:53`` (a protocol and a network). Without a protocol an entry covers both."""

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


def allowed(address: str, port: str, allowlist: Iterable[str], proto: str | None = None) -> bool:
    """Whether ``address:port`` (over ``proto``, when known) is allowed; ``*`` in the list allows
    any address for that port, a network (``10.89.0.0/16``) every address in it, and an entry for
    0.0.0.0 or :: covers every-interface bindings of either family."""
    for entry in allowlist:
        listed, _, listed_port = entry.rpartition(":")
        listed_proto = None
        if listed[:4] in ("tcp:", "udp:"):
            listed_proto, listed = listed[:3], listed[4:]
        if listed_port != port or (listed_proto and proto and listed_proto != proto):
            continue
        listed = listed.replace("[", "").replace("]", "")
        if listed in ("*", address) or (address in EVERYWHERE and listed in EVERYWHERE):
            return True
        if "/" in listed and in_networks(address, [listed]):
            return True
    return False


def in_networks(address: str, networks: Iterable[str]) -> bool:
    """Whether ``address`` lies in one of ``networks`` (CIDR strings); never for 0.0.0.0 or ::,
    which are every interface, not an address in a network."""
    if address in EVERYWHERE:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False
