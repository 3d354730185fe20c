"""The project's own modules import each other one way: no import cycle among them.

Every `import` counts, also inside functions and under `TYPE_CHECKING` (a cycle hidden from the
interpreter is still one for a reader). Imports are read with `ast`, not executed."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "tap_primedata",
    "target_cdp",
    "cdp_common",
    "cdp_orchestration",
    "cdp_sandbox",  # vendor modules import `app`, never `server` (which imports them)
    "cdp_demo",
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imports(name: str, source: str, known: set[str], *, is_package: bool = False) -> set[str]:
    """The connector modules `name` (whose text is `source`) imports, anywhere in it."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a module `a.b`
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
                found |= _packages_entered(name, target, known)
    return found


def _packages_entered(name: str, target: str, known: set[str]) -> set[str]:
    """The packages whose `__init__` importing `target` runs first: those above `target`
    that `name` is not itself inside of (a lazy `__getattr__` there still counts)."""
    parts = target.split(".")
    above = {".".join(parts[:i]) for i in range(1, len(parts))}
    mine = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    return {p for p in above - mine if p in known}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(root)
    return {
        name: imports(name, path.read_text(), set(mods), is_package=path.name == "__init__.py")
        for name, path in mods.items()
    }


def test_the_finder_sees_function_level_type_checking_and_package_imports() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    known = {"t", "t.target", "t.sinks", "t.x", "t.v", "t.v.base", "t.v.one"}
    source = (
        "import typing\nif typing.TYPE_CHECKING:\n    from t.target import T\n"
        "def f():\n    from . import sinks\n"
        "from .v.base import B\n"
    )
    assert imports("t.x", source, known) == {"t", "t.target", "t.sinks", "t.v", "t.v.base"}
    # inside its own package, a module does not enter the package's `__init__` again
    assert imports("t.v.one", "from t.v.base import B\n", known) == {"t.v.base"}


def test_connectors_have_no_import_cycles() -> None:
    graph = import_graph()
    assert "target_cdp.sinks" in graph["target_cdp.target"]  # the graph is read at all
    found = cycles(graph)
    assert found == [], f"import cycles: {[sorted(c) for c in found]}"
