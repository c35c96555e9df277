"""The shape docs/architecture.md promises, checked: imports inside taskheap/ form a DAG (type-checking
and function-level imports included), no module is over the size limit, every backend declares
the protocols it implements."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from taskheap.backends import protocols

PACKAGE = Path(__file__).parents[2] / "taskheap"
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path) -> set[str]:
    """The taskheap modules `name` imports anywhere in its source (a `from x import y` names the
    module x.y when that is a module, else x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


def test_imports_inside_the_package_form_a_dag() -> None:
    graph = {name: imported(name, path) for name, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycle = [*trail[trail.index(target) :], target] if target in trail else [node, target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_the_size_limit(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (limit {MAX_LINES}): split it by concern"


def test_the_cycle_check_sees_a_cycle() -> None:
    """The checker itself: app imports admin, so admin importing app would be reported."""
    assert "taskheap.admin" in imported("taskheap.app", MODULES["taskheap.app"])
    assert "taskheap.backends.protocols" in imported("taskheap.admin", MODULES["taskheap.admin"])


def backend_classes() -> list[type]:
    from taskheap.backends.postgres import PostgresBackend
    from taskheap.backends.redis import RedisBackend
    from taskheap.backends.sqlite import SQLiteBackend

    return [SQLiteBackend, RedisBackend, PostgresBackend]


@pytest.mark.parametrize("backend", backend_classes(), ids=lambda cls: cls.__name__)
def test_every_backend_declares_every_common_capability(backend: type) -> None:
    """Declared as bases, so mypy checks each method's signature against its protocol."""
    assert protocols.FullBackend in inspect.getmro(backend)


def test_transactional_enqueue_is_declared_where_it_exists() -> None:
    declared = {cls.__name__ for cls in backend_classes() if protocols.TransactionalEnqueue in cls.__mro__}
    assert declared == {"SQLiteBackend", "PostgresBackend"}
