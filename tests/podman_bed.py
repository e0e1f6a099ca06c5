"""The container test bed: podman serving the Docker API on a private socket, an image of the
Odoo stand-in built locally (no registry), and helpers to run the stand-in and a PostgreSQL
server as containers, alone or through podman-compose.

No registry is reachable here, so the image is a root filesystem made of the stand-in's files;
the interpreter and PostgreSQL's binaries are the host's, bound read-only at their own paths.
The gates under test only ever see the engine's API, as they would with Docker.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from loopback import wait_port

HERE = Path(__file__).resolve().parent
CONTAINERS_CONF = HERE / "bed" / "containers.conf"
STANDIN = HERE / "standin" / "odoo_standin.py"
PG_ENTRY = HERE / "bed" / "pg_entry.py"
LABEL = "io.pytest-ipai.test-bed"


class BedUnavailable(RuntimeError):
    pass


def podman_env() -> dict[str, str]:
    """The environment for podman: the test process's own store (isolation.py) when it set one,
    else the bed's settings with the machine's store (benchmarks)."""
    return dict(os.environ, CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF)))


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])}: {proc.stderr.strip()[-500:]}")
    return proc


def runtime_mounts() -> list[tuple[str, str]]:
    """(host path, container path) read-only binds that let the host's Python (with this
    virtualenv's packages) and PostgreSQL's binaries run inside an otherwise empty image."""
    wanted = ["/usr", "/lib", "/lib64", "/etc/passwd", "/etc/group", "/etc/localtime"]
    for prefix in (sys.prefix, os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)):
        if not any(prefix == w or prefix.startswith(w + "/") for w in wanted):
            wanted.append(prefix)
    return [(p, p) for p in dict.fromkeys(wanted) if os.path.exists(p)]


def python_in_container() -> str:
    return sys.executable  # the venv's interpreter, bound at its own path


def _image_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("app", "usr", "lib", "lib64", "etc", "proc", "sys", "dev", "run", "root"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name in ("tmp", "var", "var/tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
        for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin")):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        for source in (*sorted(STANDIN.parent.glob("*.py")), PG_ENTRY):
            data = source.read_bytes()
            info = tarfile.TarInfo(f"app/{source.name}")
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pg_bindir() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise BedUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql")
    return str(found[-1].parent)


class Bed:
    """One podman API service (per test process) and the stand-in image."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("podman") is None:
            raise BedUnavailable("podman is not installed: run the tests through ./dev test")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.token = hashlib.sha256(str(workdir).encode()).hexdigest()[:8]
        tar = _image_tar()
        self.image = f"localhost/ipai-odoo-standin:{hashlib.sha256(tar).hexdigest()[:12]}"
        if podman("image", "exists", self.image, check=False).returncode != 0:
            path = workdir / "standin-rootfs.tar"
            path.write_bytes(tar)
            podman("import", "--quiet", str(path), self.image)
        self.sock_path = workdir / "podman.sock"
        with (workdir / "podman-service.log").open("wb") as log:
            self.service = subprocess.Popen(
                ["podman", "system", "service", "--time=0", f"unix://{self.sock_path}"],
                env=podman_env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            self._wait_socket()
        except BaseException:
            self.close()  # a service that never answered is stopped, not left behind
            raise

    def project(self, tmp_path: Path) -> str:
        """A compose project name private to one test."""
        return "t" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]

    @property
    def socket(self) -> str:
        return f"unix://{self.sock_path}"

    def _wait_socket(self) -> None:
        import docker

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.sock_path.exists():
                try:
                    docker.DockerClient(base_url=self.socket, timeout=5).ping()
                    return
                except Exception:
                    pass
            if self.service.poll() is not None:
                break
            time.sleep(0.1)
        log = (self.workdir / "podman-service.log").read_text(errors="replace")[-800:]
        raise BedUnavailable(f"podman API service did not come up: {log}")

    def run(
        self,
        name: str,
        argv: list[str],
        *,
        service: str,
        project: str,
        network: str = "host",
        publish: Iterable[str] = (),
        env: dict[str, str] | None = None,
        user: str | None = None,
        healthcheck: list[str] | None = None,
    ) -> str:
        """Start a container labelled as a compose service; return its name."""
        args = ["run", "-d", "--name", name, "--network", network]
        args += ["--label", f"{LABEL}={self.token}"]
        args += ["--label", f"com.docker.compose.service={service}"]
        args += ["--label", f"com.docker.compose.project={project}"]
        for host, inside in runtime_mounts():
            args += ["-v", f"{host}:{inside}:ro"]
        for spec in publish:
            args += ["-p", spec]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        if user:
            args += ["--user", user]
        if healthcheck:
            # JSON form: run as argv in the container, no shell. Podman runs checks on demand
            # here (no systemd timers): the tests call ``podman healthcheck run``.
            args += ["--health-cmd", json.dumps(["CMD", *healthcheck])]
        podman(*args, self.image, *argv)
        return name

    def standin(
        self,
        name: str,
        port: int,
        *flags: str,
        dsn: str | None,
        project: str,
        network: str = "host",
        publish: Iterable[str] = (),
        wait: bool = True,
    ) -> str:
        argv = [python_in_container(), "/app/odoo_standin.py", "--port", str(port), *flags]
        if network != "host":  # its own network namespace: listen there on every interface
            argv += ["--bind", "0.0.0.0"]
        env = {"ODOO_STANDIN_DSN": dsn} if dsn else {}
        self.run(
            name, argv, service="odoo", project=project, network=network, publish=publish, env=env
        )
        if wait and network == "host":
            wait_port(port)
        return name

    def postgres(self, name: str, port: int, project: str) -> str:
        argv = [python_in_container(), "/app/pg_entry.py", pg_bindir(), str(port)]
        self.run(name, argv, service="db", project=project, user="postgres")
        wait_port(port)
        return name

    def remove(self, *names: str) -> None:
        if names:
            podman("rm", "-f", "-t", "1", *names, check=False, timeout=60)

    def compose_file(
        self,
        path: Path,
        *,
        odoo_port: int,
        db_port: int,
        workers: int,
        database: str,
        gevent_port: int,
    ) -> Path:
        """A compose file running the stand-in and its own PostgreSQL (podman-compose)."""
        volumes = [f"{h}:{c}:ro" for h, c in runtime_mounts()]
        dsn = f"postgresql://postgres@127.0.0.1:{db_port}/{database}"
        document: dict[str, Any] = {
            "services": {
                "db": {
                    "image": self.image,
                    "network_mode": "host",
                    "user": "postgres",
                    "volumes": volumes,
                    "labels": {LABEL: self.token},
                    "command": [
                        python_in_container(),
                        "/app/pg_entry.py",
                        pg_bindir(),
                        str(db_port),
                    ],
                },
                "odoo": {
                    "image": self.image,
                    "network_mode": "host",
                    "depends_on": ["db"],
                    "volumes": volumes,
                    "labels": {LABEL: self.token},
                    "environment": {"ODOO_STANDIN_DSN": dsn},
                    "command": [
                        python_in_container(),
                        "/app/odoo_standin.py",
                        "--port",
                        str(odoo_port),
                        "--workers",
                        str(workers),
                        "--gevent-port",
                        str(gevent_port),
                        "--db",
                        database,
                    ],
                },
            }
        }
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    def compose(
        self, compose_file: Path, project: str, *args: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "podman_compose", "-p", project, "-f", str(compose_file), *args],
            env=podman_env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def close(self) -> None:
        listed = podman("ps", "-aq", "--filter", f"label={LABEL}={self.token}", check=False)
        self.remove(*listed.stdout.split())
        self.service.terminate()
        try:
            self.service.wait(10)
        except subprocess.TimeoutExpired:
            self.service.kill()
