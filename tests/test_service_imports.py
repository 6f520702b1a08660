"""The service modules import each other without a circle, and shared definitions have one home.

The import graph is read from the source (every import, the ones inside functions too), so a
circle hidden in a late import ("leads builds on this module") fails here as well.
"""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import console.services
from console.grades import GRADE_POINTS, GRADES
from console.settings import PROJECT_ROOT

PACKAGE = "console.services"
SERVICES_DIR = Path(console.services.__path__[0])
SERVICE_MODULES = sorted(f"{PACKAGE}.{info.name}" for info in pkgutil.iter_modules([str(SERVICES_DIR)]))


def _imported(path: Path, module: str) -> set[str]:
    """Every module name ``module`` (at ``path``) imports, anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: from . import x / from .x import y
                package = module.rsplit(".", node.level)[0]
                base = f"{package}.{base}" if base else package
            found.add(base)
            # "from console.services import deals" imports the module deals
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def service_graph() -> dict[str, set[str]]:
    """Service module -> the service modules it imports."""
    modules = set(SERVICE_MODULES)
    return {m: (_imported(SERVICES_DIR / f"{m.rsplit('.', 1)[1]}.py", m) & modules) - {m}
            for m in SERVICE_MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.parametrize("module", SERVICE_MODULES)
def test_every_service_module_imports_on_its_own(module):
    assert importlib.import_module(module).__name__ == module


def test_the_service_modules_import_each_other_without_a_circle():
    graph = service_graph()
    assert find_cycle(graph) is None
    # The lead-to-card lifecycle has one owner: leads; the board calls it, never the reverse.
    assert f"{PACKAGE}.leads" in graph[f"{PACKAGE}.deals"]
    assert f"{PACKAGE}.deals" not in graph[f"{PACKAGE}.leads"]
    # Notifications and the board need the match policy, not the matching engine.
    for module in ("notify", "deals", "leads"):
        assert f"{PACKAGE}.matching" not in graph[f"{PACKAGE}.{module}"], module


def test_the_cycle_finder_finds_a_late_import_circle():
    """The check can fail: the old circle (deals imported leads inside create_match)."""
    graph = service_graph()
    graph[f"{PACKAGE}.leads"] = graph[f"{PACKAGE}.leads"] | {f"{PACKAGE}.deals"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert {f"{PACKAGE}.deals", f"{PACKAGE}.leads"} <= set(cycle)


def test_late_imports_are_part_of_the_graph(tmp_path):
    source = tmp_path / "a.py"
    source.write_text("def f():\n    from console.services import deals\n"
                      "    from . import notify\n", encoding="utf-8")
    assert {f"{PACKAGE}.deals", f"{PACKAGE}.notify"} <= _imported(source, f"{PACKAGE}.a")


def test_match_policy_and_grades_import_only_the_settings():
    """Every service may import them: they import no service (nor anything but settings)."""
    for module, allowed in (("match_policy", {"console.settings"}), ("grades", set())):
        tree = ast.parse((PROJECT_ROOT / "console" / f"{module}.py").read_text(encoding="utf-8"))
        ours = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        ours |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert {m for m in ours if m.startswith("console")} == allowed, module


def _literal_definitions(source: str) -> list[int]:
    """Lines of ``source`` that spell out every grade, or the grade points, as a literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List)):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if len(values) == len(node.elts) and tuple(values) == GRADES:
                found.append(node.lineno)
        elif isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            if set(keys) == set(GRADE_POINTS):
                found.append(node.lineno)
    return found


def test_grades_and_their_points_are_defined_once():
    home = PROJECT_ROOT / "console" / "grades.py"
    sources = [p for folder in ("console", "pages", "etl", "bench")
               for p in sorted((PROJECT_ROOT / folder).rglob("*.py")) if p != home]
    assert len(_literal_definitions(home.read_text(encoding="utf-8"))) == 2
    elsewhere = [f"{p.relative_to(PROJECT_ROOT)}:{line}" for p in sources
                 for line in _literal_definitions(p.read_text(encoding="utf-8"))]
    assert elsewhere == []


def test_the_grade_literal_scan_can_fail():
    assert _literal_definitions('CREDIT_GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "C")\n'
                                'x = ["AAA", "AA", "A", "BBB", "BB", "B", "C"]\n'
                                'p = {"AAA": 1, "AA": 1, "A": 1, "BBB": 1, "BB": 1, "B": 1, "C": 1}\n'
                                'subset = ("AAA", "AA")\n') == [1, 2, 3]
