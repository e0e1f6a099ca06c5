"""Loopback ports for the servers tests start: pick a free one, wait until one listens."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never handed out before in this process. A port is only
    reserved by the server that binds it later, so two servers of one test process (its own
    network namespace) must never be given the same one: every server a test starts takes its
    port from here, none binds port 0 itself."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_port(port: int, seconds: float = 30, proc: subprocess.Popen[Any] | None = None) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; fail early when ``proc`` (the
    server being waited for) exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:g} s")
