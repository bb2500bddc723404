"""No import cycle among the modules of ``registry``, ``schemas`` and ``jobs``.

Two checks: every module imports alone in a fresh interpreter (a cycle between module-level
imports fails there, depending on which module comes first), and the graph of every import
statement, function-level ones included, has no cycle (a lazy import only hides a cycle:
``db → migrations → milestones → carriers → db`` was one).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("registry", "schemas", "jobs")
#: The app factory registers the CLI commands, and the ``registry`` command builds the app:
#: both imports run inside functions, after both modules are loaded.
ALLOWED = {frozenset({"registry", "registry.cli"})}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The project modules ``path`` imports anywhere in its code."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            targets.update(submodules & MODULES.keys())
            if submodules - MODULES.keys():
                targets.add(node.module)  # names defined in the module itself
    return targets & MODULES.keys()


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle():
    graph = {name: _imports(path) - {name} for name, path in MODULES.items()}
    assert len(graph) > 50  # the walk found the tree
    cycles = [sorted(cycle) for cycle in _cycles(graph) if frozenset(cycle) not in ALLOWED]
    assert cycles == []


#: Imported once before the forks so that each child only pays for the project's modules.
WARM = (
    "apispec",
    "apscheduler",
    "flask",
    "flask_smorest",
    "icalendar",
    "marshmallow",
    "openpyxl",
    "peewee",
    "playhouse.migrate",
    "psycopg2",
    "requests",
    "webargs",
)

#: Run in a fresh interpreter: load the libraries, then import each project module in a
#: forked child that has no project module loaded yet; print those that fail.
IMPORT_EACH = """
import importlib, os, sys, traceback
for library in sys.argv[2].split(","):
    try:
        importlib.import_module(library)
    except ImportError:
        pass
assert not [m for m in sys.modules if m.split(".")[0] in ("registry", "schemas", "jobs")]
for name in sys.argv[1].split(","):
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1]:
        print("FAILED", name, flush=True)
"""


def test_every_module_imports_alone_in_a_fresh_interpreter():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, ",".join(MODULES), ",".join(WARM)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "FAILED" not in result.stdout, result.stdout + result.stderr
