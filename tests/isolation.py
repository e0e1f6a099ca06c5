"""Every test process runs in a network namespace of its own, with a PostgreSQL server of its own.

The post-deploy gates judge the sockets of the host they run on. Two tests that run at the same
time (two xdist workers, or a second test run beside this one) must never see each other's
listeners, and nothing else on the machine may change a verdict. So each process that runs
tests (each xdist worker; the only process without xdist) enters a fresh network namespace
holding only its loopback interface before any test or fixture starts. The container engine's
API service, the containers it runs on the host network, every server a test starts: all of
them live in that namespace, because they are started from it. Tests in one process run one
after the other, and ``guard_public_listeners`` fails a test that leaves a public listener
behind, so a test judges only what it made itself.

Containers are not in any network namespace's view of the engine: every podman on the machine
shares one container store, so a gate that asks the engine which containers publish ports
would see another process's containers. Each process therefore gets a container store of its
own too (graph root, run root, temporary and network folders), named through
CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, which every podman it starts inherits.

The machine's PostgreSQL is in another namespace, out of reach, and the tests do not rely on
it being there: the process starts its own server from Debian's binaries on 127.0.0.1:5432 of
its namespace (the address the tests' DSNs use), with a throwaway cluster.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pytest_ipai.core.addresses import is_loopback
from pytest_ipai.probes.sockets import Listener, parse_ss

BED_CONF = Path(__file__).resolve().parent / "bed" / "containers.conf"
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PG_PORT = "5432"


class IsolationUnavailable(RuntimeError):
    pass


def enter_private_network() -> None:
    """Move the calling thread (the one that runs tests) into a new network namespace with
    loopback up. Threads and processes it starts later are born there."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        error = os.strerror(ctypes.get_errno())
        raise IsolationUnavailable(
            f"cannot create a network namespace ({error}): the tests run as root (./dev test)"
        )
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)


class PrivateContainerStore:
    """podman settings of this process's own: its containers, images, networks and run state
    live under one temporary folder, invisible to any other podman on the machine."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ipai-test-podman-"))
        storage = self.root / "storage.conf"
        storage.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root / "graph"}"\n'
            f'runroot = "{self.root / "run"}"\n'
        )
        # The bed's settings (runtime, ulimits), with this store's own folders for the engine.
        lines = BED_CONF.read_text().splitlines()
        engine = lines.index("[engine]") + 1
        lines[engine:engine] = [
            f'tmp_dir = "{self.root / "libpod"}"',
            f'volume_path = "{self.root / "volumes"}"',
        ]
        lines += ["", "[network]", f'network_config_dir = "{self.root / "networks"}"']
        conf = self.root / "containers.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.env = {"CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}

    def remove(self) -> None:
        env = dict(os.environ, **self.env)
        # Whatever a test left running goes with the store (unmounting its layers first).
        subprocess.run(
            ["podman", "system", "reset", "--force"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def public_listeners() -> list[Listener]:
    out = subprocess.run(
        ["ss", "-H", "-ltnup"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [s for s in parse_ss(out) if not is_loopback(s.address)]


def _die_with_parent() -> None:
    # A test process killed outright (a crashed worker) takes its server with it: SIGQUIT is
    # PostgreSQL's immediate shutdown.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGQUIT)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1:``port`` of this process's namespace,
    initialised with ``initdb_args`` (UTF8 without a locale unless told)."""

    def __init__(
        self, port: str = PG_PORT, initdb_args: tuple[str, ...] = ("-E", "UTF8", "--no-locale")
    ) -> None:
        self.port, self.initdb_args = port, initdb_args
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not found:
            raise IsolationUnavailable(
                "no PostgreSQL server binaries under /usr/lib/postgresql (./dev test installs them)"
            )
        self.bindir = found[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="ipai-test-pg-"))
        self.server: subprocess.Popen[bytes] | None = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        data = self.root / "data"
        shutil.chown(self.root, "postgres", "postgres")
        initdb = [str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        subprocess.run(
            [*initdb, *self.initdb_args, "--no-sync"],
            user="postgres",
            check=True,
            capture_output=True,
            timeout=120,
        )
        log = (self.root / "server.log").open("wb")
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "max_connections": "200",
            # A throwaway cluster: durability buys nothing here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        options = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
        self.server = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(data), "-p", self.port, *options],
            user="postgres",
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                tail = (self.root / "server.log").read_text(errors="replace")[-500:]
                raise IsolationUnavailable(f"the test PostgreSQL server exited: {tail}")
            try:
                dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
                psycopg.connect(dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise IsolationUnavailable("the test PostgreSQL server did not accept connections")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
