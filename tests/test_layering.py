"""No two apps import each other, counting imports inside functions.

import-linter (`make lint`) checks that imports run down the layers of docs/architecture.md, for
the apps its contract names. This test holds for every app, named or not (a new app, siblings a
future contract might join with `:`): it builds the app-to-app import graph from the AST of every
module under apps/ (imports inside functions included, since those hide cycles best) and fails
on any cycle, naming the files of each arrow.
"""

import ast
import itertools
from collections import defaultdict
from pathlib import Path

APPS = Path(__file__).resolve().parent.parent / "apps"


def _app_of(module: str) -> str:
    """The app (layer unit) a module belongs to: its apps/<name>."""
    return module.split(".")[1]


def _imported_modules(tree: ast.AST) -> list[str]:
    """Every absolute module an AST imports, wherever the import statement sits."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def app_import_graph(apps_dir: Path = APPS) -> dict[str, dict[str, set[str]]]:
    """{importing app: {imported app: {"apps/x/module.py", ...}}} for the modules under apps_dir."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(apps_dir.rglob("*.py")):
        rel = path.relative_to(apps_dir)
        if len(rel.parts) < 2 or "migrations" in rel.parts:
            continue
        source_app = _app_of(".".join(("apps", *rel.with_suffix("").parts)))
        for module in _imported_modules(ast.parse(path.read_text(), filename=str(path))):
            parts = module.split(".")
            if len(parts) < 2 or parts[0] != "apps":
                continue
            target_app = _app_of(module)
            where = f"apps/{rel}"
            if target_app == source_app:
                continue
            graph[source_app][target_app].add(where)
    return graph


def app_cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one app (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = itertools.count()

    def visit(node: str) -> None:
        index[node] = low[node] = next(counter)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if node not in index:
            visit(node)
    return sorted(components)


def _describe(graph, cycle: list[str]) -> str:
    lines = [" <-> ".join(cycle)]
    for source in cycle:
        for target in cycle:
            for where in sorted(graph.get(source, {}).get(target, ())):
                lines.append(f"  {source} -> {target}: {where}")
    return "\n".join(lines)


def test_no_two_apps_import_each_other_even_inside_functions():
    graph = app_import_graph()
    cycles = app_cycles(graph)
    assert not cycles, "app import cycles:\n" + "\n".join(_describe(graph, c) for c in cycles)


def test_the_cycle_finder_sees_an_import_hidden_inside_a_function(tmp_path):
    (tmp_path / "alpha").mkdir()
    (tmp_path / "beta").mkdir()
    (tmp_path / "alpha" / "services.py").write_text("from apps.beta.models import Thing\n")
    (tmp_path / "beta" / "models.py").write_text("def later():\n    from apps.alpha import services\n")

    graph = app_import_graph(tmp_path)

    assert app_cycles(graph) == [["alpha", "beta"]]
    assert graph["beta"]["alpha"] == {"apps/beta/models.py"}
