"""The container engine probe: Docker's API through the ``docker`` SDK (podman serves the same API).

Every call has a timeout. Anything the engine cannot tell us is an ``EngineError`` with a one-line
message; the checks turn it into an ``error`` result, never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.addresses import EVERYWHERE
from ..core.errors import IpaiError

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

DEFAULT_ENGINE = "unix:///var/run/docker.sock"
ENGINE_TIMEOUT = 10.0
SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"


class EngineError(IpaiError):
    """The engine could not be reached or could not answer."""


class AmbiguousService(EngineError):
    """A service name that matches containers of more than one compose project: judging one
    of them (or all) would judge another stack."""

    error_class = "ambiguous_service"


def connect(address: str, timeout: float = ENGINE_TIMEOUT) -> DockerClient:
    """A client for the engine at ``address``, checked with a ping."""
    import docker
    from docker.errors import DockerException

    if address.startswith("unix://"):
        path = Path(address[len("unix://") :])
        if not path.exists():
            raise EngineError(f"engine socket {address}: no such socket")
    try:
        client = docker.DockerClient(base_url=address, timeout=int(max(1, timeout)))
        client.ping()
    except DockerException as exc:
        raise EngineError(f"engine {address}: {_reason(exc)}") from None
    return client


@contextmanager
def engine(address: str, timeout: float = ENGINE_TIMEOUT) -> Iterator[DockerClient]:
    """``connect``, closing the client's connections afterwards."""
    client = connect(address, timeout)
    try:
        yield client
    finally:
        client.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def service_containers(
    client: DockerClient, service: str, project: str | None = None
) -> list[Container]:
    """The containers of a compose service (by label), or a container of that name."""
    from docker.errors import DockerException, NotFound

    labels = [f"{SERVICE_LABEL}={service}"]
    if project:
        labels.append(f"{PROJECT_LABEL}={project}")
    try:
        found: list[Container] = client.containers.list(all=True, filters={"label": labels})
        projects = sorted({str(c.labels.get(PROJECT_LABEL, "")) for c in found})
        if not project and len(projects) > 1:
            raise AmbiguousService(
                f"service {service}: containers of {len(projects)} compose projects "
                f"({', '.join(projects)}); set compose_project to say which stack is this one"
            )
        if found:
            return found
        try:
            named = client.containers.get(service)
        except NotFound:
            return []
        # The engine also resolves an id prefix ("db" matches a container whose id starts so):
        # only a container of exactly that name is the service's.
        return [named] if named.name == service else []
    except DockerException as exc:
        raise EngineError(f"listing containers of service {service}: {_reason(exc)}") from None


def engine_subnets(client: DockerClient) -> list[str]:
    """The subnets of the engine's bridge networks (IPAM config, as Docker and podman's compat
    API report it): its DNS server and the containers' addresses live there, not on a public
    interface. Host and null networks have none."""
    from docker.errors import DockerException

    try:
        networks = client.networks.list(greedy=False)
    except DockerException as exc:
        raise EngineError(f"listing networks: {_reason(exc)}") from None
    subnets = []
    for network in networks:
        if (network.attrs.get("Driver") or "bridge") != "bridge":  # macvlan: on the real LAN
            continue
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet"):
                subnets.append(str(config["Subnet"]))
    return sorted(set(subnets))


def running_containers(client: DockerClient) -> list[Container]:
    from docker.errors import DockerException

    try:
        found: list[Container] = client.containers.list()
    except DockerException as exc:
        raise EngineError(f"listing containers: {_reason(exc)}") from None
    return found


@dataclass(frozen=True)
class ContainerState:
    name: str
    status: str  # running, exited, created, paused, ...
    health: str | None  # healthy, unhealthy, starting; None without a healthcheck

    @property
    def ok(self) -> bool:
        return self.status == "running" and self.health in (None, "healthy")

    def describe(self) -> str:
        health = f", health {self.health}" if self.health else ""
        return f"{self.name}: {self.status}{health}"


def container_state(attrs: dict[str, Any]) -> ContainerState:
    state = attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status") or None  # podman: "" without a check
    name = str(attrs.get("Name", "?")).lstrip("/")
    return ContainerState(name=name, status=str(state.get("Status", "unknown")), health=health)


def inspect_for_evidence(attrs: dict[str, Any]) -> str:
    """Container inspect output with environment values removed (they hold secrets)."""
    cleaned = json.loads(json.dumps(attrs, default=str))
    env = (cleaned.get("Config") or {}).get("Env")
    if isinstance(env, list):
        cleaned["Config"]["Env"] = [str(item).split("=", 1)[0] + "=[REMOVED]" for item in env]
    return json.dumps(cleaned, indent=1, sort_keys=True)


@dataclass(frozen=True)
class Binding:
    container: str
    container_port: str  # e.g. 8069/tcp
    host_ip: str
    host_port: str

    @property
    def everywhere(self) -> bool:
        return self.host_ip.strip("[]") in EVERYWHERE

    def describe(self) -> str:
        address = self.host_ip or "0.0.0.0"  # noqa: S104 - a report, not a bind
        shown = f"[{address}]" if ":" in address and not address.startswith("[") else address
        return f"{shown}:{self.host_port} -> {self.container}:{self.container_port}"


def port_bindings(attrs: dict[str, Any]) -> list[Binding]:
    """Published ports of a container, from its network settings (what is bound now)."""
    name = str(attrs.get("Name", "?")).lstrip("/")
    ports = ((attrs.get("NetworkSettings") or {}).get("Ports")) or {}
    found = []
    for container_port, binds in sorted(ports.items()):
        for bind in binds or []:
            found.append(
                Binding(name, container_port, str(bind.get("HostIp") or ""), str(bind["HostPort"]))
            )
    return found


LOG_MARGIN = 600  # seconds of output read before the deploy start


def log_chunks(container: Container, since: datetime) -> Iterator[bytes]:
    """The container's output (stdout and stderr) from a margin before ``since`` (naive UTC), as
    a stream. The scanner judges records by their own time; the margin's records show that the
    source is live when nothing was logged since the deploy started."""
    from docker.errors import DockerException

    stamp = int(since.replace(tzinfo=UTC).timestamp()) - LOG_MARGIN
    try:
        stream = container.logs(stdout=True, stderr=True, stream=True, follow=False, since=stamp)
        yield from stream
    except DockerException as exc:
        raise EngineError(f"{container.name}: cannot read logs ({_reason(exc)})") from None
