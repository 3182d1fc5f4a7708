"""The layering of the Python package, read from its source with `ast`:
no module but ``__main__`` imports the command line (``ptychopatch.cli``),
and the modules import each other without a cycle (the package root, which
re-exports the API, aside).

Every import counts, at module level or inside a function: ``from . import
x``, ``from .x import y``, ``from .. import z``, ``import ptychopatch.x``
and their absolute forms. ``from . import name`` is an edge to the
submodule ``name`` where that file exists, else to the package's
``__init__``. Needs neither the library nor an import of the package.
"""

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO / "capi" / "python" / "ptychopatch"
ROOT = "ptychopatch"
CLI = "ptychopatch.cli"
#: The one module that may import the command line.
CLI_IMPORTERS = {"ptychopatch.__main__"}


def _module_name(path: Path) -> str:
    parts = (ROOT,) + path.relative_to(PACKAGE_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> Dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(module: str, path: Path, level: int, name: Optional[str]) -> Optional[str]:
    """The absolute module a ``from <level dots><name> import ...`` in
    `module` (file `path`) reads from; None where it leaves the package."""
    if level == 0:
        return name
    base = module.split(".") if _is_package(path) else module.split(".")[:-1]
    if level - 1 > len(base) - 1:
        return None
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph() -> Dict[str, Set[str]]:
    """module -> the package modules it imports (anywhere in its file)."""
    modules = _modules()
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, path, node.level, node.module)
                if source is None:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    # `from . import x`: the submodule x where there is one,
                    # else a name of the package (its __init__).
                    targets.append(submodule if submodule in modules else source)
            for target in targets:
                if target == ROOT or target.startswith(ROOT + "."):
                    # `import ptychopatch.a.b` names the deepest module there is.
                    while target not in modules and "." in target:
                        target = target.rsplit(".", 1)[0]
                    if target in modules and target != module:
                        graph[module].add(target)
    return graph


def find_components(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module, each
    sorted: the modules that import each other, directly or not (Tarjan's
    algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle (a list of modules, first == last) per strongly connected
    component of more than one module: a shortest one through the
    component's first module."""
    cycles = []
    for component in find_components(graph):
        members = set(component)
        # A shortest path from the component's first module back to itself.
        start = component[0]
        paths = {start: [start]}
        queue = [start]
        cycle = None
        while queue and cycle is None:
            v = queue.pop(0)
            for w in sorted(graph[v] & members):
                if w == start:
                    cycle = paths[v] + [start]
                    break
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    queue.append(w)
        cycles.append(cycle)
    return cycles


def test_graph_sees_the_imports():
    # Guards the checks below against a reader that finds nothing.
    graph = import_graph()
    assert CLI in graph["ptychopatch.__main__"]
    assert "ptychopatch._bench" in graph
    assert "ptychopatch._bench.registry" in graph["ptychopatch._bench.align"]
    # A function-level `from .. import distributed` is an edge to the submodule,
    assert "ptychopatch.distributed" in graph["ptychopatch._bench.dataset"]
    # `from .. import align_scene` one to the package root.
    assert ROOT in graph["ptychopatch._bench.align"]


def test_only_main_imports_the_cli():
    importers = sorted(m for m, targets in import_graph().items()
                       if CLI in targets and m not in CLI_IMPORTERS)
    assert not importers, f"modules importing {CLI}: {', '.join(importers)}"


def test_no_import_cycles():
    # The package root re-exports the API: edges into it are not layering.
    graph = {m: {t for t in targets if t != ROOT} for m, targets in import_graph().items()}
    found = [f"{' -> '.join(cycle)} (importing each other: {', '.join(component)})"
             for cycle, component in zip(find_cycles(graph), find_components(graph))]
    assert not found, "import cycles:\n" + "\n".join(found)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c", "a"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_find_cycles(graph, expected):
    assert find_cycles(graph) == expected
