"""No import cycles inside bounds/, constructive/ and experiments/.

The graph is read from the source with ``ast`` (nothing is imported): an edge A -> B for every
``import B`` / ``from B import x`` / ``from .B import x`` in module A that names a module of these
packages, at module level or inside a function alike. A lazy import inside a function still makes
the two modules depend on each other; it only hides the cycle from the interpreter. The implicit
imports of parent packages (``import a.b`` runs ``a/__init__``) are not edges.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bounds", "constructive", "experiments")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """{module: modules of `packages` it imports}, for every .py file under root/<package>."""
    files = {module_name(root, p): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    graph = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        here = mod.split(".") if is_pkg else mod.split(".")[:-1]  # the package holding `mod`
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: strip level - 1 packages from `here`
                    base_parts = here[: len(here) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module
                # `from pkg import sub` imports the submodule pkg.sub when there is one.
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for name in names:
                # `import a.b.c` of a module; otherwise the longest prefix that is one of ours.
                parts = name.split(".")
                while parts and ".".join(parts) not in files:
                    parts.pop()
                if parts and ".".join(parts) != mod:
                    targets.add(".".join(parts))
        graph[mod] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) through every strongly connected component with > 1 module
    (Tarjan 1972), sorted."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def strongconnect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    found = []
    for comp in comps:
        start = min(comp)
        # Shortest way back to start inside the component (breadth-first).
        prev, frontier = {start: None}, [start]
        while frontier and start not in [w for v in frontier for w in graph[v]]:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & comp):
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        last = next(v for v in frontier if start in graph[v])
        path = [last]
        while prev[path[-1]] is not None:
            path.append(prev[path[-1]])
        found.append([*reversed(path), start])
    return sorted(found)


def test_no_import_cycles():
    graph = import_graph(REPO)
    assert {"experiments.train", "experiments.evaluate", "constructive.exp_nets"} <= set(graph)
    assert "experiments.evaluate" in graph["experiments.train"]  # edges are really read
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_detects_a_planted_cycle_through_a_lazy_import(tmp_path):
    pkg = tmp_path / "experiments"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .b import g\n")
    (pkg / "a.py").write_text("from experiments.sub.b import g\n")
    (pkg / "sub" / "b.py").write_text("def g():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("import experiments.a\n")
    graph = import_graph(tmp_path, packages=("experiments",))
    assert graph["experiments.sub.b"] == {"experiments.a"}
    assert graph["experiments.c"] == {"experiments.a"}
    assert cycles(graph) == [["experiments.a", "experiments.sub.b", "experiments.a"]]
