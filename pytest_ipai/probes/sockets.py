"""Listening sockets from ``ss -H -ltnup`` output (IPv4 and IPv6), as the socket gate sees them.

Parsed here rather than with testinfra's ``is_listening``, which misjudges ``0.0.0.0`` and
``::``. An unparseable line is an error, never skipped: a socket we could not read might be the
public one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.addresses import EVERYWHERE, allowed, is_loopback
from ..core.errors import InputError

_PROCESS = re.compile(r'\("([^"]*)",pid=(\d+)')


@dataclass(frozen=True)
class Listener:
    proto: str
    address: str
    port: str
    process: str
    pids: tuple[int, ...] = ()

    @property
    def everywhere(self) -> bool:
        return self.address in EVERYWHERE

    @property
    def loopback(self) -> bool:
        return is_loopback(self.address)

    def describe(self) -> str:
        shown = f"[{self.address}]" if ":" in self.address else (self.address or "*")
        return f"{self.proto} {shown}:{self.port} ({self.process or 'process unknown'})"


def parse_ss(text: str) -> list[Listener]:
    listeners = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp") or ":" not in parts[4]:
            raise InputError(f"ss output line {number}: not a socket line ({line[:80]!r})")
        address, _, port = parts[4].rpartition(":")
        address = address.split("%", 1)[0].strip("[]")  # 0.0.0.0%lo:53 -> 0.0.0.0
        if address.startswith("::ffff:"):
            address = address.removeprefix("::ffff:")  # IPv4 mapped into IPv6
        processes = _PROCESS.findall(" ".join(parts[6:]))
        process = ", ".join(f"{name} pid {pid}" for name, pid in processes)
        pids = tuple(int(pid) for _, pid in processes)
        listeners.append(Listener(parts[0], address, port, process, pids))
    return listeners


def exposed(listeners: list[Listener], allowlist: list[str]) -> list[Listener]:
    """Sockets on a non-loopback address that the allowlist does not cover."""
    return [
        s
        for s in listeners
        if not s.loopback and not allowed(s.address, s.port, allowlist, s.proto)
    ]
