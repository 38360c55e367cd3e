"""The emulator package's shape: no import cycle among its modules (lazy imports inside functions count too),
and the sample tenant is built from small functions."""

from __future__ import annotations

import ast
from pathlib import Path

import aiq_emulators.bunny

PACKAGE = Path(aiq_emulators.bunny.__file__).parent
PREFIX = "aiq_emulators.bunny."


def import_graph(root: Path, prefix: str) -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its body (top level or inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.glob("*.py")):
        name = path.stem
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
                targets.add(node.module.removeprefix(prefix).split(".")[0])
            elif isinstance(node, ast.Import):
                targets |= {a.name.removeprefix(prefix).split(".")[0] for a in node.names if a.name.startswith(prefix)}
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target] if target in path else [node, target]
            if state.get(target) is None:
                found = visit(target, [*path, target])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if state.get(start) is None:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_import_cycle_in_the_emulator() -> None:
    graph = import_graph(PACKAGE, PREFIX)
    assert {"schema", "resolvers", "executable", "views", "app"} <= set(graph)
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"
    assert "resolvers" not in graph["schema"]  # the SDL layer knows nothing of the resolvers built on it


def test_the_cycle_finder_sees_a_lazy_import_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from pkg.b import x\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("def f():\n    from pkg.a import y\n", encoding="utf-8")
    (tmp_path / "c.py").write_text("import pkg.a\n", encoding="utf-8")
    graph = import_graph(tmp_path, "pkg.")
    assert graph == {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_sample_tenant_is_built_from_small_functions() -> None:
    tree = ast.parse((PACKAGE / "sample_tenant.py").read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert len(functions) >= 8
    long = [f"{f.name}: {(f.end_lineno or f.lineno) - f.lineno + 1} lines" for f in functions]
    assert all(int(entry.split(": ")[1].split()[0]) <= 60 for entry in long), long
