"""The dependency graph: closure, auto_install additions, install order and cycles.

Pure functions over a name -> node mapping, so they can be property-tested on generated graphs.
Core addons of the series are leaves: we know their names (manifestoo-core), not their
manifests, so their own dependencies and auto_install rules are Odoo's business.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    name: str
    depends: tuple[str, ...] = ()
    auto_install: bool | tuple[str, ...] = False
    installable: bool = True


@dataclass(frozen=True)
class Missing:
    name: str
    chain: tuple[str, ...]  # from a root to the addon that needs ``name``, then ``name``
    reason: str  # not_found | not_installable | enterprise

    def path(self) -> str:
        return " -> ".join(self.chain)


@dataclass
class Resolution:
    closure: list[str] = field(default_factory=list)  # addons of the tree that get installed
    core: list[str] = field(default_factory=list)  # core CE addons they need
    auto_installed: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # install order, core and tree
    missing: list[Missing] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)  # each [a, b, ..., a]


def resolve(
    roots: Iterable[str],
    tree: Mapping[str, Node],
    core_ce: frozenset[str] = frozenset(),
    core_ee: frozenset[str] = frozenset(),
) -> Resolution:
    result = Resolution()
    parent: dict[str, str | None] = {}
    installed: set[str] = set()
    core: set[str] = set()
    missing: dict[str, Missing] = {}

    def chain(name: str) -> tuple[str, ...]:
        out = [name]
        while (up := parent.get(out[-1])) is not None:
            out.append(up)
        return tuple(reversed(out))

    def walk(starts: Iterable[str], via: str | None) -> None:
        queue: deque[str] = deque()
        for start in starts:
            if start not in parent:
                parent[start] = via
                queue.append(start)
        while queue:
            name = queue.popleft()
            node = tree.get(name)
            if node is None or not node.installable:
                if name in core_ce and node is None:
                    core.add(name)
                elif name not in missing:
                    reason = (
                        "not_installable"
                        if node is not None
                        else ("enterprise" if name in core_ee else "not_found")
                    )
                    missing[name] = Missing(name, chain(name), reason)
                continue
            installed.add(name)
            for dep in node.depends:
                if dep not in parent:
                    parent[dep] = name
                    queue.append(dep)

    walk(sorted(set(roots)), None)
    # auto_install: an addon comes along once every addon that triggers it is installed; a list
    # names the triggers, True means all its depends. Repeat until nothing more comes.
    changed = True
    while changed:
        changed = False
        present = installed | core
        for name in sorted(tree):
            node = tree[name]
            if name in installed or not node.installable or not node.auto_install:
                continue
            auto = node.auto_install
            triggers: tuple[str, ...] = node.depends if auto is True else tuple(auto or ())
            if all(t in present for t in triggers):
                result.auto_installed.append(name)
                walk([name], None)
                changed = True
                break
    result.closure = sorted(installed)
    result.core = sorted(core)
    result.missing = sorted(missing.values(), key=lambda m: (m.name, m.chain))
    result.order, result.cycles = install_order(installed, core, tree)
    return result


def install_order(
    installed: set[str], core: set[str], tree: Mapping[str, Node]
) -> tuple[list[str], list[list[str]]]:
    """Topological order (dependencies first; ties alphabetical) and the cycles that block it."""
    nodes = installed | core
    deps = {n: [d for d in tree[n].depends if d in nodes] if n in tree else [] for n in nodes}
    waiting = {n: len(set(ds)) for n, ds in deps.items()}
    users: dict[str, list[str]] = {n: [] for n in nodes}
    for name, ds in deps.items():
        for dep in set(ds):
            users[dep].append(name)
    ready = [n for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    placed = set(order)
    stuck = nodes - placed
    return order, find_cycles(stuck, deps)


def find_cycles(nodes: set[str], deps: Mapping[str, list[str]]) -> list[list[str]]:
    """One cycle path per cycle among ``nodes`` (each of which sits on or behind a cycle)."""
    cycles: list[list[str]] = []
    seen: set[str] = set()
    for start in sorted(nodes):
        if start in seen:
            continue
        # Follow dependencies inside ``nodes`` until a name repeats: that stretch is a cycle.
        path: list[str] = []
        index: dict[str, int] = {}
        name = start
        while name not in index and name not in seen:
            index[name] = len(path)
            path.append(name)
            nxt = sorted(d for d in deps.get(name, []) if d in nodes)
            if not nxt:
                break
            name = nxt[0]
        seen.update(path)
        if name in index:
            cycle = [*path[index[name] :], name]
            if not any(set(cycle) == set(c) for c in cycles):
                cycles.append(cycle)
    return cycles
