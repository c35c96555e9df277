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


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` (node -> the nodes it imports) as a path back to its start, or None."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*trail[trail.index(target) :], target]
            if target not in state and (cycle := visit(target, [*trail, target])):
                return cycle
        state[node] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name, [name])):
            return cycle
    return None


def test_imports_inside_the_package_form_a_dag() -> None:
    cycle = find_cycle({name: imported(name, path) for name, path in MODULES.items()})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_cycles_direct_and_through_others() -> None:
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_seen_include_type_checking_and_function_level_ones() -> None:
    """handle.py imports JobHandle's admin at runtime; worker.py imports App only for typing;
    backends/__init__.py imports each backend inside a function: all count."""
    assert "taskheap.admin" in imported("taskheap.handle", MODULES["taskheap.handle"])
    assert "taskheap.app" in imported("taskheap.worker.worker", MODULES["taskheap.worker.worker"])
    assert "taskheap.backends.sqlite" in imported("taskheap.backends", MODULES["taskheap.backends"])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_the_size_limit(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (limit {MAX_LINES}): split it by concern"


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
