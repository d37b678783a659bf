"""The house's import rules, read from the source (AST), so a change that breaks them fails here.

- No import cycles in directord/: module-level imports count, and so do imports inside functions
  unless marked deliberately lazy (``# noqa: PLC0415`` with a comment saying why). Imports under
  ``if TYPE_CHECKING:`` are for the type checker only and do not count.
- The pure core (timeperiods/, scheduler.py, due_queue.py, jobstate.py, calendar.py, walltime.py,
  views.py) reaches nothing that does I/O, not even through another module of ours.
- store/ imports neither web/ nor jobs/; no job kind (jobs/*) reaches the supervisor.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import directord

PACKAGE_ROOT = Path(directord.__file__).parent

PURE = ("timeperiods", "scheduler", "due_queue", "jobstate", "calendar", "walltime", "views")
IO_LIBRARIES = {"aiohttp", "aiosqlite", "asyncpg", "psutil", "subprocess", "socket"}
IO_ROOMS = ("store", "web", "jobs")
SUPERVISOR = ("supervisor", "runs", "daemon", "cli")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. directord.config
    target: str  # a module of ours (directord.jobs.registry) or a top-level library (aiohttp)
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`
    lazy: bool  # inside a function and marked deliberately lazy


def module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    node: ast.AST, type_only: bool = False, in_function: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, type_only, in_function
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), True, in_function)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), type_only, in_function)
        else:
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from _walk(child, type_only, inner)


def imports_of(root: Path) -> list[Import]:
    """Every import statement of every module under ``root`` (a package directory)."""
    package = root.name
    modules = {module_name(root, p) for p in root.rglob("*.py")}
    out = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(root, path)
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        is_package = path.name == "__init__.py"
        for node, type_only, in_function in _walk(ast.parse(text, str(path))):
            marked = "noqa: PLC0415" in lines[node.lineno - 1]
            lazy = in_function and marked
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                if target == package or target.startswith(package + "."):
                    # `import directord.x.y` names the module; a name inside one names its module.
                    while target not in modules and "." in target:
                        target = target.rsplit(".", 1)[0]
                else:
                    target = target.split(".")[0]
                out.append(Import(name, target, node.lineno, type_only, lazy))
    return out


def runtime_graph(imports: Iterable[Import], package: str) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports when it runs (not type-only, not marked lazy)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set())
        if imp.type_only or imp.lazy or imp.source == imp.target:
            continue
        if imp.target.startswith(package + ".") or imp.target == package:
            graph[imp.source].add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reach(imports: list[Import], start: str) -> dict[str, list[str]]:
    """Every module and library ``start`` reaches at run time (lazy imports too: they still do
    their I/O when called), each with the chain of imports that gets there."""
    edges: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.type_only:
            edges.setdefault(imp.source, set()).add(imp.target)
    chains = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop()
        for other in sorted(edges.get(node, ())):
            if other not in chains:
                chains[other] = [*chains[node], other]
                todo.append(other)
    return chains


def in_room(module: str, rooms: Iterable[str], package: str = "directord") -> bool:
    return any(
        module == f"{package}.{room}" or module.startswith(f"{package}.{room}.") for room in rooms
    )


def layering_violations(imports: list[Import], package: str = "directord") -> list[str]:
    modules = {imp.source for imp in imports}
    out = []
    for module in sorted(m for m in modules if in_room(m, PURE, package)):
        for target, chain in reach(imports, module).items():
            if target in IO_LIBRARIES or in_room(target, IO_ROOMS, package):
                out.append(f"pure {module} reaches {target}: {' -> '.join(chain)}")
    for imp in imports:
        if in_room(imp.source, ("store",), package) and in_room(
            imp.target, ("web", "jobs"), package
        ):
            out.append(f"{imp.source}:{imp.line} imports {imp.target}")
    for module in sorted(m for m in modules if in_room(m, ("jobs",), package)):
        for target, chain in reach(imports, module).items():
            if in_room(target, SUPERVISOR, package):
                out.append(f"job kind {module} reaches {target}: {' -> '.join(chain)}")
    return out


def test_directord_has_no_import_cycles() -> None:
    graph = runtime_graph(imports_of(PACKAGE_ROOT), "directord")
    assert len(graph) > 40  # every module was read
    assert cycles(graph) == []


def test_directord_keeps_its_layers() -> None:
    assert layering_violations(imports_of(PACKAGE_ROOT)) == []


# -- the checker itself catches what it must ---------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "directord"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("from directord import b\n", "from directord import a\n"),
        ("import directord.b\n", "from directord.a import thing\n"),
        ("from . import b\n", "def f():\n    from directord import a\n"),
    ],
)
def test_a_cycle_is_found(tmp_path: Path, a: str, b: str) -> None:
    root = _tree(tmp_path, {"__init__.py": "", "a.py": a, "b.py": b})
    assert cycles(runtime_graph(imports_of(root), "directord")) == [["directord.a", "directord.b"]]


@pytest.mark.parametrize(
    "b",
    [
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from directord import a\n",
        "def f():\n    # Lazy: a is big.\n    from directord import a  # noqa: PLC0415\n",
    ],
)
def test_type_only_and_marked_lazy_imports_make_no_cycle(tmp_path: Path, b: str) -> None:
    root = _tree(tmp_path, {"__init__.py": "", "a.py": "from directord import b\n", "b.py": b})
    assert cycles(runtime_graph(imports_of(root), "directord")) == []


def test_layer_violations_are_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "helper.py": "import socket\n",
            "scheduler.py": "from directord import helper\n",
            "timeperiods/__init__.py": "def f():\n    import aiohttp  # noqa: PLC0415\n",
            "store/__init__.py": "from directord.jobs import base\n",
            "jobs/__init__.py": "",
            "jobs/base.py": "",
            "jobs/kind.py": "from directord import daemon\n",
            "daemon.py": "from directord import supervisor\n",
            "supervisor.py": "",
        },
    )
    found = "\n".join(layering_violations(imports_of(root)))
    assert (
        "pure directord.scheduler reaches socket: directord.scheduler -> directord.helper" in found
    )
    assert "pure directord.timeperiods reaches aiohttp" in found
    assert "directord.store:1 imports directord.jobs.base" in found
    assert "job kind directord.jobs.kind reaches directord.supervisor" in found
