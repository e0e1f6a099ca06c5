"""The host that host checks (sockets) look at: this machine, or another one through a
pytest-testinfra backend (``ssh://``, ``paramiko://``, ``docker://``, ``podman://``).

One host per run: an evidence pack and a decision are about one host. The local host runs argv
directly (testinfra's local backend would go through a shell). Remote backends need a command
line by nature (ssh sends a string); there the argv is quoted word by word and every word is
checked against a narrow alphabet first, so no value can change what runs.
"""

from __future__ import annotations

import re
import shlex
import threading
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError, IpaiError
from ..core.proc import run

LOCAL = "local://"
SPEC = re.compile(r"^(local|ssh|paramiko|docker|podman)://[^\s,]*$")
SAFE_WORD = re.compile(r"^[A-Za-z0-9_./=:,-]+$")


class HostError(IpaiError):
    """The host could not be reached or the command could not run there."""


def target_spec(option: str | None, configured: list[str] | None, where: str) -> str:
    """The host spec of this run: ``--hosts`` first, then the environment's ``hosts``."""
    if option:
        specs, origin = [s.strip() for s in option.split(",") if s.strip()], "--hosts"
    elif configured:
        specs, origin = list(configured), f"{where}.hosts"
    else:
        return LOCAL
    if len(specs) != 1:
        raise ConfigError(
            f"{origin}: one host per run (an evidence pack is about one host), got {len(specs)}"
        )
    spec = specs[0]
    if not SPEC.match(spec):
        raise ConfigError(
            f"{origin}: {spec!r} is not a host spec (local://, ssh://, paramiko://, docker://, "
            "podman://)"
        )
    return spec


@dataclass(frozen=True)
class Output:
    returncode: int
    stdout: str
    stderr: str


class Target:
    def __init__(self, spec: str) -> None:
        self.spec = spec

    @property
    def local(self) -> bool:
        return self.spec == LOCAL

    @property
    def group(self) -> str:
        """The xdist group of this host's checks."""
        return "host-" + re.sub(r"[^A-Za-z0-9_.-]", "_", self.spec)

    def run(self, argv: list[str], timeout: float) -> Output:
        if self.local:
            proc = run(argv, timeout=timeout)
            return Output(proc.returncode, proc.stdout, proc.stderr)
        for word in argv:
            if not SAFE_WORD.match(word):
                raise HostError(f"refusing to send {word!r} to {self.spec}: not a plain word")
        return self._remote(" ".join(shlex.quote(w) for w in argv), timeout)

    def _remote(self, line: str, timeout: float) -> Output:
        import testinfra  # type: ignore[import-untyped]  # ships no type information

        box: dict[str, Any] = {}

        def call() -> None:
            try:
                host = testinfra.get_host(self.spec)
                result = host.run(line)
                box["out"] = Output(result.rc, result.stdout, result.stderr)
            except Exception as exc:  # any backend failure is the host's, reported as such
                box["exc"] = exc

        # testinfra's backends have no overall timeout: wait in a daemon thread and give up.
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise HostError(f"{self.spec}: no answer within {timeout:g} s")
        if "exc" in box:
            first = str(box["exc"]).splitlines()[0][:200] if str(box["exc"]) else ""
            raise HostError(f"{self.spec}: {type(box['exc']).__name__}: {first}")
        out: Output = box["out"]
        return out
