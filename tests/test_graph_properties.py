"""Property tests of the dependency graph: closure, install order, cycles, auto_install, and
duplicate resolution along addons_path."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ipai.addons.discovery import discover
from pytest_ipai.addons.graph import Node, resolve

NAMES = [f"m{i}" for i in range(12)]
CORE = frozenset({"base", "web", "mail"})
EE = frozenset({"web_studio"})


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Node]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=12, unique=True))
    pool = [*names, "base", "web", "mail", "web_studio", "ghost"]
    nodes = {}
    for name in names:
        depends = tuple(draw(st.lists(st.sampled_from(pool), max_size=4, unique=True)))
        auto = draw(st.sampled_from([False, False, True, "list"]))
        auto_install = depends[:1] if auto == "list" else auto
        installable = draw(st.booleans() | st.just(True))
        nodes[name] = Node(name, depends, auto_install, installable)
    return nodes


def reachable_cycles(nodes: dict[str, Node], members: set[str]) -> bool:
    """Brute force: is there a cycle among ``members``?"""

    def visit(name: str, stack: tuple[str, ...]) -> bool:
        if name in stack:
            return True
        return any(visit(d, (*stack, name)) for d in nodes[name].depends if d in members)

    return any(visit(m, ()) for m in members)


@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_closure_order_and_cycle_invariants(nodes: dict[str, Node], data: st.DataObject) -> None:
    roots = data.draw(st.lists(st.sampled_from(sorted(nodes)), min_size=1, max_size=4, unique=True))
    result = resolve(roots, nodes, CORE, EE)
    closure = set(result.closure)
    missing = {m.name for m in result.missing}
    # Every root ends up installed or reported missing (not installable).
    for root in roots:
        assert root in closure or root in missing
    # Closed under depends: each dependency of an installed addon is installed, core, or missing.
    for name in closure:
        for dep in nodes[name].depends:
            assert dep in closure or dep in result.core or dep in missing
    # Missing names are really missing, with the right reason and a chain that ends at them.
    for item in result.missing:
        assert item.chain[-1] == item.name
        if item.reason == "enterprise":
            assert item.name in EE
        elif item.reason == "not_found":
            assert item.name not in nodes and item.name not in CORE
        else:
            assert not nodes[item.name].installable
        for up, down in itertools.pairwise(item.chain):
            assert down in nodes[up].depends
    # auto_install additions: installable, triggered by what is installed.
    for name in result.auto_installed:
        node = nodes[name]
        assert name in closure and node.auto_install
    # The order holds each installed name once, dependencies first, unless a cycle blocks it.
    order = result.order
    assert len(order) == len(set(order))
    position = {name: i for i, name in enumerate(order)}
    for name in order:
        for dep in nodes[name].depends if name in nodes else ():
            if dep in position:
                assert position[dep] < position[name]
    has_cycle = reachable_cycles(nodes, closure)
    assert bool(result.cycles) == has_cycle
    assert (set(order) == closure | set(result.core)) == (not has_cycle)
    for cycle in result.cycles:
        assert cycle[0] == cycle[-1] and len(cycle) >= 2
        for up, down in itertools.pairwise(cycle):
            assert down in nodes[up].depends


@settings(max_examples=200, deadline=None)
@given(graphs(), st.data())
def test_adding_a_root_never_shrinks_the_closure(
    nodes: dict[str, Node], data: st.DataObject
) -> None:
    names = sorted(nodes)
    roots = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    extra = data.draw(st.sampled_from(names))
    small = resolve(roots, nodes, CORE, EE)
    large = resolve([*roots, extra], nodes, CORE, EE)
    assert set(small.closure) <= set(large.closure)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a_mod", "b_mod", "c_mod", "d_mod"]), unique=True, max_size=4),
        min_size=1,
        max_size=4,
    ),
)
def test_duplicates_resolve_along_addons_path(layout: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        roots = []
        for index, names in enumerate(layout):
            root = base / f"root{index}"
            root.mkdir()
            roots.append(root)
            for name in names:
                (root / name).mkdir()
                (root / name / "__init__.py").write_text("")
                (root / name / "__manifest__.py").write_text(f'{{"name": "{name} from {index}"}}')
        tree = discover(roots, base)
        for name, addon in tree.addons.items():
            first = next(i for i, names in enumerate(layout) if name in names)
            assert addon.root == roots[first]
        expected_shadowed = sum(len(names) for names in layout) - len(tree.addons)
        assert len(tree.shadowed) == expected_shadowed
        for winner, loser in tree.shadowed:
            assert roots.index(winner.root) < roots.index(loser.root)
