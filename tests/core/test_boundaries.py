"""The package boundaries of issue 11, checked on the source (AST, nothing imported):

* one owner per table: only a package's own modules import its ``tables`` module
  (``congthu/db.py`` and ``congthu/migrations/`` excepted, as they see every table);
* no import cycle between the modules of ``congthu``, counting imports at module level
  and inside functions alike (a function-local import only delays the cycle), leaving out
  imports under ``if TYPE_CHECKING:`` (type hints only).

How an import is read. ``import a.b.c`` and ``from a.b.c import name`` lead to module
``a.b.c``; ``from a.b import c`` leads to submodule ``a.b.c`` when there is one, else to
package ``a.b`` (its ``__init__``, which may re-export ``c`` from a submodule). A package's
``__init__`` importing its own submodules is how it re-exports them, not a dependency that
can close a circle: those edges are left out. Importing ``a.b.c`` also runs ``a.b``'s
``__init__``; that implicit edge is left out too, for the same reason.

The checker is tested on a small tree with planted violations, so it cannot pass by
finding nothing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "congthu"
TABLE_ALLOWED = ("congthu.db", "congthu.migrations")


@dataclass
class Graph:
    """Modules of a package tree and the modules each imports (``edges``)."""

    modules: dict[str, Path] = field(default_factory=dict)
    packages: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)


def _module_name(path: Path, root: Path, top: str) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join([top, *parts]), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the else branch does run
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _known(graph: Graph, name: str) -> str | None:
    """``name`` or its longest prefix that is a module of the tree."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in graph.modules:
            return candidate
        parts.pop()
    return None


def build_graph(root: Path, top: str) -> Graph:
    """The import graph of the package at ``root`` named ``top``."""
    graph = Graph()
    trees: dict[str, ast.AST] = {}
    for path in sorted(root.rglob("*.py")):
        name, is_package = _module_name(path, root, top)
        graph.modules[name] = path
        if is_package:
            graph.packages.add(name)
        trees[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for name, tree in trees.items():
        own_package = name if name in graph.packages else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = own_package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                wanted = []
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    wanted.append(submodule if submodule in graph.modules else source)
            for target in wanted:
                known = _known(graph, target)
                if known is None or known == name:
                    continue
                # A package re-exporting its own submodules.
                if name in graph.packages and known.startswith(name + "."):
                    continue
                targets.add(known)
        graph.edges[name] = targets
    return graph


def table_violations(graph: Graph, top: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """"module imports other_package.tables" for each import of another package's tables."""
    out = []
    for name, targets in sorted(graph.edges.items()):
        if any(name == a or name.startswith(a + ".") for a in allowed):
            continue
        owner = name.split(".")[1] if name.count(".") else ""
        for target in sorted(targets):
            parts = target.split(".")
            if parts[-1] == "tables" and len(parts) >= 3 and parts[1] != owner:
                out.append(f"{name} imports {target}")
    return out


def cycles(graph: Graph) -> list[list[str]]:
    """The import circles: each strongly connected group of modules (Tarjan), as one
    circle through it, starting at its first module by name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def connect(start: str) -> None:
        nonlocal counter
        # Iterative, so a deep chain of imports cannot exhaust the recursion limit.
        work = [(start, iter(sorted(graph.edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            connect(module)
    return [_circle(graph, group) for group in sorted(groups)]


def _circle(graph: Graph, group: list[str]) -> list[str]:
    """One circle through a strongly connected group: the shortest path back to its start."""
    members = set(group)
    start = group[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph.edges.get(node, ())):
            if child == start:
                return paths[node] + [start]
            if child in members and child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    return group  # pragma: no cover - a strongly connected group always has a circle


# -- the rules on congthu ---------------------------------------------------------------


@pytest.fixture(scope="module")
def congthu_graph() -> Graph:
    return build_graph(ROOT, "congthu")


def test_no_package_imports_another_packages_tables(congthu_graph: Graph) -> None:
    assert table_violations(congthu_graph, "congthu", TABLE_ALLOWED) == []


def test_no_import_cycles(congthu_graph: Graph) -> None:
    assert [" -> ".join(circle) for circle in cycles(congthu_graph)] == []


# -- the checker on a planted tree ------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_finds_planted_violations(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    _write(root, {
        "__init__.py": "",
        "db.py": "from pkg.mail.tables import boxes\n",  # allowed: sees every table
        "mail/__init__.py": "from pkg.mail.box import Box\nfrom pkg.mail import flags\n",  # re-exports
        "mail/tables.py": "boxes = None\n",
        "mail/box.py": "from pkg.mail.tables import boxes\nfrom pkg.mail import Box as _B\nclass Box: ...\n",
        "mail/flags.py": "",
        "people/__init__.py": "",
        # Another package's tables, one way and another.
        "people/a.py": "from pkg.mail.tables import boxes\n",
        "people/b.py": "from pkg.mail import tables\n",
        "people/c.py": "import pkg.mail.tables\n",
        # A circle closed by a function-local import ...
        "people/d.py": "from pkg.people.e import f\n",
        "people/e.py": "def f():\n    from pkg.people import d\n",
        # ... and one used only for type hints, which does not count.
        "people/g.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.people.h import H\n",
        "people/h.py": "from pkg.people.g import *\nclass H: ...\n",
        # A relative import closing a circle through a package __init__.
        "mail/sub/__init__.py": "from ..box import Box\n",
        "people/i.py": "from pkg.mail import sub\n",
    })
    graph = build_graph(root, "pkg")
    assert table_violations(graph, "pkg", ("pkg.db",)) == [
        "pkg.people.a imports pkg.mail.tables",
        "pkg.people.b imports pkg.mail.tables",
        "pkg.people.c imports pkg.mail.tables",
    ]
    # Without the exception, db.py is caught too.
    assert "pkg.db imports pkg.mail.tables" in table_violations(graph, "pkg")
    # pkg.mail.box importing its package back is no circle: the package only re-exports it.
    assert cycles(graph) == [["pkg.people.d", "pkg.people.e", "pkg.people.d"]]
    # "from pkg.mail import flags" leads to the submodule, "from pkg.mail import Box"
    # to the package; a relative import is resolved from the importing module.
    assert "pkg.mail.flags" not in graph.edges["pkg.mail"]  # its own submodule: a re-export
    assert graph.edges["pkg.mail.box"] == {"pkg.mail.tables", "pkg.mail"}
    assert graph.edges["pkg.mail.sub"] == {"pkg.mail.box"}
    assert graph.edges["pkg.people.i"] == {"pkg.mail.sub"}
    assert graph.edges["pkg.people.g"] == set()
