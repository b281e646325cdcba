"""The import graph of Muster's own packages: no module takes part in an import cycle.

Where it sits: unit tests of the architecture, beside the import-linter contracts that ``make lint`` checks
(``[tool.importlinter]`` in ``pyproject.toml``). A cycle is found with Tarjan's strongly connected components
over grimp's graph (the one import-linter builds), counting every import, including those inside functions.
"""

from __future__ import annotations

import grimp

PACKAGES = ("engine", "connectors", "admin_ui", "policies")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))
    return found


def _graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES)
    ours = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    return {m: {d for d in graph.find_modules_directly_imported_by(m) if d in ours} for m in ours}


def test_the_cycle_finder_sees_a_cycle_and_a_self_import() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert sorted(_cycles(edges)) == [["a", "b", "c"], ["d"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_muster() -> None:
    graph = _graph()
    assert "engine.runtime.wiring" in graph and "admin_ui.web" in graph  # the graph covers every package
    assert _cycles(graph) == []
