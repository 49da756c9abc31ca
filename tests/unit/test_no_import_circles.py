"""No import circle between the package's modules, counting EVERY import: inside
functions and under TYPE_CHECKING too (import-linter's layers see those as well, but a
circle inside one layer breaks no layer contract). A circle dodged by a late import
is still a circle: two rooms that each need the other are one room, or want a seam."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "supervisord_lite"

pytestmark = pytest.mark.timeout(60)


def module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_names(root)
    top = root.name
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                    start = ".".join(parts + ([node.module] if node.module else []))
                else:
                    start = node.module or ""
                targets = [start] + [f"{start}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target.startswith(top) and target not in modules:
                    target = target.rpartition(".")[0]
                if target in modules and target != name:
                    edges[name].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_its_way_back_to_itself():
    assert circles(import_graph(PACKAGE)) == []


def test_a_circle_through_a_late_import_is_found(tmp_path):
    """The check can fail: a circle dodged by TYPE_CHECKING and one by an import inside
    a function, planted in a copy of the package, are both reported."""
    copy = tmp_path / "supervisord_lite"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    base = copy / "base"
    (base / "circle_a.py").write_text("from supervisord_lite.base import circle_b\n")
    (base / "circle_b.py").write_text(
        "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from supervisord_lite.base import circle_a\n"
    )
    (base / "circle_c.py").write_text("def f():\n    from .circle_d import g\n")
    (base / "circle_d.py").write_text("def g():\n    from . import circle_c\n")
    found = circles(import_graph(copy))
    assert ["supervisord_lite.base.circle_a", "supervisord_lite.base.circle_b"] in found
    assert ["supervisord_lite.base.circle_c", "supervisord_lite.base.circle_d"] in found
