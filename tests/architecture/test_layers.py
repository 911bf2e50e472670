"""The import graph keeps its shape: packages import only the layers below them, and nothing cycles.

Layers, lowest first (a package may import any package in a lower layer, none in its own or above):
the rules (`domain`); the contracts every layer shares and the plain tools beside them; settings and
infrastructure; activities; workflows; the API and the worker; the dev stack; the CLI. An import that
goes up or sideways fails here, so the layering is kept by CI, not by memory. Imports inside a
function count too (they are still a dependency); `if TYPE_CHECKING:` imports do not.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_PRODUCT = {"tests", "bench", "migrations", "build", "node_modules"}

LAYERS: list[set[str]] = [
    {"domain", "logs", "observability"},
    {"contracts", "calendars", "payments", "mail", "reports"},
    {"settings", "storage"},
    {"codec", "pilot"},
    {"temporal_connection", "activities"},
    {"workflows"},
    {"api", "worker"},
    {"devstack"},
    {"cli"},
]
LEVEL = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def product_packages() -> dict[str, list[Path]]:
    packages: dict[str, list[Path]] = {}
    for path in ROOT.iterdir():
        if path.name.startswith(".") or path.name in NOT_PRODUCT:
            continue
        if path.is_dir():
            files = [f for f in path.rglob("*.py") if not (set(f.relative_to(ROOT).parts) & NOT_PRODUCT)]
            if files:
                packages[path.name] = files
        elif path.suffix == ".py":
            packages[path.stem] = [path]
    return packages


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:`: annotations only, no dependency at run time."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        lines.add(sub.lineno)
    return lines


def imported_modules(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # module scope, including `with` and `try` blocks, not function bodies
        nodes = [n for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 for n in ast.walk(stmt)]
    found: set[str] = set()
    for node in nodes:
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def package_edges() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it."""
    packages = product_packages()
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for package, files in packages.items():
        for path in files:
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in packages and top != package:
                    edges[package][top].add(str(path.relative_to(ROOT)))
    return edges


def test_every_product_package_has_a_layer():
    unplaced = sorted(set(product_packages()) - set(LEVEL))
    assert not unplaced, f"place these packages in a layer of {__name__}.LAYERS: {unplaced}"


def test_no_import_goes_up_or_sideways():
    wrong = [
        f"{package} -> {imported} (layer {LEVEL[package]} -> {LEVEL[imported]}): {sorted(files)}"
        for package, targets in package_edges().items()
        for imported, files in targets.items()
        if package in LEVEL and imported in LEVEL and LEVEL[imported] >= LEVEL[package]
    ]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_contracts_import_only_the_domain():
    assert set(package_edges().get("contracts", {})) <= {"domain"}


def test_domain_imports_no_project_package():
    assert not package_edges().get("domain")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_no_module_imports_itself_in_a_circle():
    """Module-scope imports between the project's modules form no cycle (inside a layer too)."""
    files = [path for paths in product_packages().values() for path in paths]
    names = {_module_name(path): path for path in files}
    graph = {
        name: {module for module in imported_modules(path, top_level_only=True) if module in names and module != name}
        for name, path in names.items()
    }
    cycles = _cycles(graph)
    assert not cycles, "module import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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


def test_the_check_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_product_module_is_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for paths in product_packages().values()
        for path in paths
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, f"split these modules (400 lines at most): {long}"


def test_the_rules_and_the_contracts_use_only_the_standard_library_and_pydantic():
    """`domain/` is pure and `contracts/` is plain data: nothing that does I/O or talks to a server."""
    allowed = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core", "typing_extensions", "domain", "contracts"}
    found = {
        f"{path.relative_to(ROOT)}: {module}"
        for package in ("domain", "contracts")
        for path in product_packages()[package]
        for module in imported_modules(path)
        if module.split(".")[0] not in allowed
    }
    assert not found, "outside the standard library and pydantic:\n" + "\n".join(sorted(found))
