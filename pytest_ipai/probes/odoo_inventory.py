"""Snapshots of processes and listening sockets where Odoo runs: this machine (psutil), another
host through its testinfra backend (``ps`` and ``ss``), or a container (the engine's ``top``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .engine import EngineError
from .hosts import HostError, Target
from .odoo_procs import Proc, Snapshot, parse_ps, parse_ss_owners

if TYPE_CHECKING:
    from docker.models.containers import Container

PS = ["ps", "-e", "-o", "pid=,ppid=,ni=,nlwp=,etimes=,stat=,args="]
SS = ["ss", "-H", "-l", "-t", "-n", "-p"]
# Docker runs ps on the host with these options; podman reads /proc itself for its descriptors.
TOP_VARIANTS = (
    "-eo pid,ppid,ni,nlwp,etimes,stat,args",
    "pid ppid nice etime state args",
    "-ef",
)
# psutil's status names as ps's STAT letters (what Proc.alive reads)
_STATES = {"zombie": "Z", "stopped": "T", "tracing-stop": "t", "dead": "X", "running": "R"}


def local_snapshot() -> Snapshot:
    import psutil

    now = time.time()
    procs: dict[int, Proc] = {}
    attrs = ["pid", "ppid", "cmdline", "nice", "num_threads", "create_time", "status"]
    for process in psutil.process_iter(attrs):
        info: dict[str, Any] = process.info
        if not info.get("cmdline"):
            continue  # kernel threads, or gone meanwhile
        procs[info["pid"]] = Proc(
            info["pid"],
            info["ppid"] or 0,
            tuple(info["cmdline"]),
            int(info["nice"] or 0),
            int(info["num_threads"] or 0),
            max(0.0, now - float(info["create_time"] or now)),
            _STATES.get(str(info.get("status") or ""), "S"),
        )
    # psutil.net_connections() names one pid per socket, while Odoo's master and HTTP workers
    # share one listening socket; and its host-wide walk keeps the last process it saw holding
    # a socket's inode, which can be a PostgreSQL backend just forked with the listening socket
    # still open (gone a moment later). The processes the gates look for, Odoo's and
    # PostgreSQL's, are asked one by one as well.
    owners: dict[int, set[int]] = {}
    for shared in psutil.net_connections(kind="tcp"):
        if shared.status == psutil.CONN_LISTEN and shared.pid and shared.laddr:
            owners.setdefault(shared.laddr.port, set()).add(shared.pid)
    for proc in procs.values():
        if not (proc.odoo or proc.gevent or _postgres(proc)):
            continue
        try:
            connections = psutil.Process(proc.pid).net_connections(kind="tcp")
        except psutil.Error:
            continue  # gone meanwhile
        for own in connections:
            if own.status == psutil.CONN_LISTEN and own.laddr:
                owners.setdefault(own.laddr.port, set()).add(proc.pid)
    return Snapshot(procs, {port: frozenset(pids) for port, pids in owners.items()})


def _postgres(proc: Proc) -> bool:
    """The PostgreSQL server (the DSN's port owner) or one of its processes."""
    program = proc.argv[0].rsplit("/", 1)[-1] if proc.argv else ""
    return program.startswith(("postgres", "postmaster"))


def host_snapshot(target: Target, timeout: float) -> Snapshot:
    """Processes and listeners of the target host; HostError when they cannot be read."""
    if target.local:
        return local_snapshot()
    ps = target.run(PS, timeout=timeout)
    if ps.returncode != 0:
        raise HostError(f"ps on {target.spec} exited {ps.returncode}")
    ss = target.run(SS, timeout=timeout)
    if ss.returncode != 0:
        raise HostError(f"ss on {target.spec} exited {ss.returncode}")
    return Snapshot(parse_ps(ps.stdout), parse_ss_owners(ss.stdout))


def declared_pid(
    target: Target, pidfile: str | None, unit: str | None, timeout: float
) -> int | None:
    """The master's pid from a pidfile or a systemd unit's MainPID; None when neither is set.
    A declared source that cannot be read is a HostError, never a guess."""
    if pidfile:
        out = target.run(["cat", pidfile], timeout=timeout)
        text = out.stdout.strip()
        if out.returncode != 0 or not text.isdigit():
            raise HostError(f"{pidfile}: no pid in it on {target.spec}")
        return int(text)
    if unit:
        out = target.run(["systemctl", "show", "-p", "MainPID", "--value", unit], timeout=timeout)
        text = out.stdout.strip()
        if out.returncode != 0 or not text.isdigit():
            raise HostError(f"systemd unit {unit}: no MainPID on {target.spec}")
        return int(text) or None
    return None


def container_snapshot(container: Container) -> Snapshot:
    """The container's processes with nice and threads where the engine tells them; no sockets."""
    from docker.errors import DockerException

    last = ""
    for ps_args in TOP_VARIANTS:
        try:
            top = container.top(ps_args=ps_args)
        except DockerException as exc:
            last = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            continue
        procs = parse_top_columns(dict(top))
        if procs:
            return Snapshot(procs)
    raise EngineError(f"{container.name}: cannot list processes ({last})")


_COLUMNS = {
    "pid": ("PID",),
    "ppid": ("PPID",),
    "nice": ("NI", "NICE"),
    "threads": ("NLWP", "THCNT"),
    "age": ("ELAPSED", "ETIMES"),
    "state": ("STAT", "STATE", "S"),
    "cmd": ("CMD", "COMMAND", "ARGS"),
}


def parse_top_columns(top: dict[str, Any]) -> dict[int, Proc]:
    titles = [str(t) for t in top.get("Titles") or []]
    if len(titles) == 1:
        titles = titles[0].split()
    at = {
        key: next((titles.index(t) for t in names if t in titles), None)
        for key, names in _COLUMNS.items()
    }
    if at["pid"] is None or at["ppid"] is None or at["cmd"] is None:
        return {}
    cmd_at = at["cmd"]
    procs = {}
    for row in top.get("Processes") or []:
        cells = [str(c) for c in row]
        if len(cells) == 1:
            cells = cells[0].split(None, len(titles) - 1)
        if len(cells) < len(titles) or not cells[at["pid"]].isdigit():
            continue

        procs[int(cells[at["pid"]])] = Proc(
            int(cells[at["pid"]]),
            _number(cells, at["ppid"]),
            tuple(" ".join(cells[cmd_at:]).split()),
            _number(cells, at["nice"]),
            _number(cells, at["threads"]),
            float(_number(cells, at["age"])),
            cells[at["state"]] if at["state"] is not None else "",
        )
    return procs


def _number(cells: list[str], index: int | None) -> int:
    value = cells[index] if index is not None else ""
    return int(value) if value.lstrip("-").isdigit() else 0


def descendants(snap: Snapshot, roots: set[int]) -> set[int]:
    """``roots`` and every process below them."""
    children: dict[int, list[int]] = {}
    for proc in snap.procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = set(), [pid for pid in roots if pid in snap.procs]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def systemd_unit(target: Target, pid: int, timeout: float) -> str | None:
    """The systemd unit a process runs in (from its cgroup), or None."""
    try:
        out = target.run(["cat", f"/proc/{pid}/cgroup"], timeout=timeout)
    except HostError:
        return None
    for line in out.stdout.splitlines():
        path = line.rpartition(":")[2]
        for part in reversed(path.split("/")):
            if part.endswith((".service", ".scope")) and not part.startswith("session-"):
                return part
    return None
