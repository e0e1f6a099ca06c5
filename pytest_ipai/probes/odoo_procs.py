"""Odoo's processes and their roles, however Odoo runs (container, systemd, supervisor, by hand).

Without ``setproctitle`` Odoo's HTTP and cron workers share the master's command line, so roles
are told apart by what each process does, as observed on Odoo 18.0:

- the master: the pidfile's or the systemd unit's pid, else the owner of the HTTP listening
  socket whose parent is not an Odoo process;
- the gevent (longpolling) child: the literal ``gevent`` sub-command in its argv, and alone
  listening on the longpolling port;
- HTTP workers: they share the master's HTTP listening socket;
- cron workers: niced (``os.nice(10)``), and they do not listen.

``pg_stat_activity.application_name`` is no help: HTTP workers' connections carry the master's
pid. In threaded mode (no workers) there is one process whose idle threads are main + HTTP
server + one per cron thread; OS thread names are all ``python``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    argv: tuple[str, ...]
    nice: int = 0
    threads: int = 0  # 0: unknown
    age: float = 0.0  # seconds since it started
    state: str = ""  # ps's STAT letter (R, S, D, Z zombie, T stopped...); "" unknown

    @property
    def alive(self) -> bool:
        """Running or able to run: a zombie (Z), a stopped (T) or traced (t) process, or a dead
        one (X) serves nothing, whatever its argv and sockets say."""
        return self.state[:1] not in ("Z", "T", "t", "X")

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    @property
    def odoo(self) -> bool:
        return any("odoo" in part.lower() for part in self.argv[:3])

    @property
    def gevent(self) -> bool:
        return "gevent" in self.argv[1:4]


@dataclass(frozen=True)
class Snapshot:
    """Processes, and which pids listen on which TCP port (empty when unknown)."""

    procs: dict[int, Proc]
    listeners: dict[int, frozenset[int]] = field(default_factory=dict)

    def owners(self, port: int | None) -> frozenset[int]:
        return self.listeners.get(port, frozenset()) if port else frozenset()


@dataclass
class Roles:
    master: Proc | None
    mode: str = "unknown"  # workers | threaded
    http: list[Proc] = field(default_factory=list)
    cron: list[Proc] = field(default_factory=list)
    gevent: list[Proc] = field(default_factory=list)
    other: list[Proc] = field(default_factory=list)
    not_alive: list[Proc] = field(default_factory=list)  # zombie or stopped children

    def pids(self) -> dict[str, set[int]]:
        return {
            "http": {p.pid for p in self.http},
            "cron": {p.pid for p in self.cron},
            "gevent": {p.pid for p in self.gevent},
        }

    def describe(self) -> dict[str, object]:
        return {
            "master": self.master.pid if self.master else None,
            "mode": self.mode,
            **{role: sorted(pids) for role, pids in self.pids().items()},
            "not_alive": {str(p.pid): p.state for p in self.not_alive},
            "threads": self.master.threads if self.master else None,
        }


def find_master(snap: Snapshot, declared: int | None, http_port: int | None) -> Proc | None:
    """The master: a declared pid (pidfile, systemd MainPID) when it runs; else the HTTP socket's
    owner whose parent is not an Odoo process; else the topmost Odoo process with most children."""
    procs = snap.procs
    if declared is not None:
        return procs.get(declared)
    owners = [procs[pid] for pid in snap.owners(http_port) if pid in procs]
    tops = [p for p in owners if not (p.ppid in procs and procs[p.ppid].odoo)]
    if tops:
        return min(tops, key=lambda p: p.pid)
    odoo = [p for p in procs.values() if p.odoo and not p.gevent]
    tops = [p for p in odoo if not (p.ppid in procs and procs[p.ppid].odoo)]
    if not tops:
        return None

    def children(parent: Proc) -> int:
        return sum(1 for p in procs.values() if p.ppid == parent.pid and p.odoo)

    # An init wrapper above the master (tini, an entrypoint script) names odoo too but has one
    # child; the master has its workers.
    best = max(tops, key=lambda p: (children(p), -p.pid))
    wrapped = [p for p in odoo if p.ppid == best.pid]
    if len(wrapped) == 1 and children(wrapped[0]) > children(best):
        return wrapped[0]
    return best


def classify(
    snap: Snapshot, master: Proc | None, http_port: int | None, gevent_port: int | None
) -> Roles:
    roles = Roles(master)
    if master is None:
        return roles
    children = sorted((p for p in snap.procs.values() if p.ppid == master.pid), key=lambda p: p.pid)
    roles.mode = "workers" if children else "threaded"
    http_owners = snap.owners(http_port)
    gevent_owners = snap.owners(gevent_port)
    sockets_known = bool(snap.listeners)
    for child in children:
        if not child.alive:
            roles.not_alive.append(child)
        elif "WorkerHTTP" in child.command:  # titled by setproctitle, when it is installed
            roles.http.append(child)
        elif "WorkerCron" in child.command:
            roles.cron.append(child)
        elif child.gevent or child.pid in gevent_owners:
            roles.gevent.append(child)
        elif sockets_known and child.pid in http_owners:
            roles.http.append(child)
        elif child.nice > master.nice:
            roles.cron.append(child)
        elif not sockets_known and child.argv == master.argv:
            roles.http.append(child)  # no socket facts (a container's top): not niced is HTTP
        else:
            roles.other.append(child)
    return roles


@dataclass(frozen=True)
class Churn:
    role: str
    pids_seen: int  # distinct pids over the window
    most_at_once: int


def role_counts(samples: list[Roles]) -> list[Churn]:
    """Per role, the distinct pids seen over the samples and the most seen at once."""
    counts = []
    for role in ("http", "cron", "gevent"):
        seen: set[int] = set()
        most = 0
        for roles in samples:
            pids = roles.pids()[role]
            seen |= pids
            most = max(most, len(pids))
        counts.append(Churn(role, len(seen), most))
    return counts


def replacements(samples: list[Roles]) -> dict[str, int]:
    """Per role, how many of its processes were replaced over the samples."""
    return {c.role: c.pids_seen - c.most_at_once for c in role_counts(samples)}


def churn(samples: list[Roles]) -> list[Churn]:
    """Roles whose pids change over the samples: a respawn loop (two or more replacements)."""
    return [c for c in role_counts(samples) if c.pids_seen - c.most_at_once >= 2]


def parse_ps(text: str) -> dict[int, Proc]:
    """``ps -e -o pid=,ppid=,ni=,nlwp=,etimes=,stat=,args=`` output, one process per line."""
    procs = {}
    for line in text.splitlines():
        parts = line.split(None, 6)
        if len(parts) < 7 or not parts[0].isdigit():
            continue
        nice = int(parts[2]) if parts[2].lstrip("-").isdigit() else 0
        procs[int(parts[0])] = Proc(
            int(parts[0]),
            int(parts[1]),
            tuple(parts[6].split()),
            nice,
            int(parts[3]) if parts[3].isdigit() else 0,
            float(parts[4]) if parts[4].isdigit() else 0.0,
            parts[5],
        )
    return procs


def parse_ss_owners(text: str) -> dict[int, frozenset[int]]:
    """``ss -H -ltnp`` output: listening TCP port -> the pids that hold its socket."""
    import re

    owners: dict[int, set[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or ":" not in parts[3]:
            continue
        port = parts[3].rpartition(":")[2]
        if port.isdigit():
            pids = {int(pid) for pid in re.findall(r"pid=(\d+)", line)}
            owners.setdefault(int(port), set()).update(pids)
    return {port: frozenset(pids) for port, pids in owners.items()}
