"""No circle of imports between the packages hub and schema: schema/ builds on hub/ (the store, the loaders, the
selection reader), and of hub/ only the parts that serve requests (the app, the CLI) import schema/.

The imports are read from the source (every `import` and `from ... import`, also those inside functions and under
TYPE_CHECKING, which are dependencies all the same), and importing a module imports its packages first
(`schema.compiler.plan` runs `schema/__init__.py`), so those edges count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "schema")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that module `name` imports (and the packages those imports run)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)  # `from hub import app`
    found = set()
    for target in targets:
        parts = target.split(".")
        # a module's packages run first
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in known)
    # and so do its own
    parts = name.split(".")
    found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's, with a stack of our own)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, following = work[-1]
            nxt = next(following, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_import_cycle_between_hub_and_schema() -> None:
    crossing = [
        sorted(component)
        for component in cycles(graph())
        if {name.partition(".")[0] for name in component} >= set(PACKAGES)
    ]
    assert not crossing, f"modules of hub and schema import each other: {crossing}"


def test_the_cycle_finder_finds_one() -> None:
    """The test above would see the loop it was written against: hub/compiler.py importing schema/, which imported
    it back."""
    loop = graph()
    loop["hub.selections"] = loop["hub.selections"] | {"schema.common"}
    assert any({"hub.selections", "schema.common"} <= component for component in cycles(loop))
    assert "hub.store.base" in graph()["schema.relations"]
    assert "schema" in graph()["schema.compiler.plan"]  # a module's package runs first
