"""The Odoo stand-in as a local process on a loopback port (the container variant is in
podman_bed.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from loopback import free_port

STANDIN = Path(__file__).resolve().parent / "standin" / "odoo_standin.py"


class Standin:
    """The Odoo stand-in as a local process on a loopback port."""

    def __init__(self, dsn: str | None, log: Path, *flags: str) -> None:
        self.port = free_port()
        self.log = log
        argv = [sys.executable, str(STANDIN), "--port", str(self.port), "--log", str(log), *flags]
        if "--workers" in flags and "--gevent-port" not in flags:
            argv += ["--gevent-port", str(free_port())]  # never the stand-in's default port+3
        if dsn:
            argv += ["--dsn", dsn]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:  # ready when it accepts connections (a hanging stand-in answers nothing else)
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the Odoo stand-in did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # never left behind, but a stop that did not stop is a defect
            self.proc.wait(10)
            raise
