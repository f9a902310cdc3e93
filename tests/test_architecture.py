"""The layering the README promises, read from the source: ``flows`` imports nothing but itself,
the standard library and ``transitions``; the packages import each other without a cycle; and
``bot`` opens no unit of work and makes no role check of its own (the flows decide)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "flows", "storage")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``module`` imports, at any depth of its code (lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.rsplit(".", node.level)[0] if path.name != "__init__.py" or node.level > 1 else module
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _ours(name: str) -> str | None:
    """The project module ``name`` refers to (a name imported from a module counts as that module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def test_flows_import_only_flows_the_standard_library_transitions_and_babel() -> None:
    # Babel: the catalogues' plural rules, dates and numbers (flows.catalogue); no I/O of its own.
    allowed = set(sys.stdlib_module_names) | {"transitions", "flows", "babel"}
    for module, path in MODULES.items():
        if not module.startswith("flows"):
            continue
        outside = {n for n in _imports(path, module) if n.split(".")[0] not in allowed}
        # flows.diagram draws the machine with transitions' own GraphMachine extension.
        assert not outside, f"{module} imports {sorted(outside)}"


def test_the_packages_import_each_other_without_a_cycle() -> None:
    graph = {m: {o for n in _imports(p, m) if (o := _ours(n)) and o != m} for m, p in MODULES.items()}
    # A package's __init__ is imported by its modules implicitly; edges into it are not cycles of ours.
    graph = {m: {o for o in deps if o not in PACKAGES} for m, deps in graph.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dependency in sorted(graph[module]):
            if state.get(dependency) == 1:
                cycle = [*path[path.index(dependency) :], dependency]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dependency not in state:
                visit(dependency)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_flows_and_storage_never_import_the_adapter() -> None:
    for module, path in MODULES.items():
        if module.startswith(("flows", "storage")):
            wrong = {n for n in _imports(path, module) if n.split(".")[0] == "bot"}
            assert not wrong, f"{module} imports {sorted(wrong)}"


@pytest.mark.parametrize("needle", [".transaction(", ".update(", "sessionmaker(", ".session", "is_coordinator", "by_telegram"])
def test_the_telegram_adapter_opens_no_unit_of_work_and_checks_no_role(needle: str) -> None:
    adapter = [m for m in MODULES if m.startswith("bot") and not m.startswith("bot.cli")]
    offenders = [m for m in adapter if needle in MODULES[m].read_text(encoding="utf-8")]
    assert not offenders, f"{needle!r} in {offenders}: the flows (flows.service) own units of work and roles"
