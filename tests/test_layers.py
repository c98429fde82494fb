"""The layers of the package hold: no import cycle among mlreg's modules, the bottom layer
(``mlreg.data``) imports nothing above it, and only the CLI imports Rich.

The imports are read from the source (``ast``), so the check does not depend on which
modules happen to be imported first. "At import time" means what runs when a module is
imported: its top level and class bodies, not function bodies (imports there are for
startup cost) and not ``if TYPE_CHECKING:`` blocks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Iterator

import pytest

import mlreg

ROOT = Path(mlreg.__file__).parent


def module_name(path: Path) -> str:
    parts = ["mlreg", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_in(nodes: Iterable[ast.AST], import_time: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements among ``nodes`` and inside them; inside function bodies and
    ``if TYPE_CHECKING:`` blocks only when not ``import_time``."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not import_time:
                yield from _imports_in(node.body, import_time)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            if not import_time:
                yield from _imports_in(node.body, import_time)
            yield from _imports_in(node.orelse, import_time)
        else:
            yield from _imports_in(ast.iter_child_nodes(node), import_time)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def imports(module: str, import_time: bool = True) -> set[str]:
    """The names of everything ``module`` imports (mlreg modules named as such: ``from
    mlreg.data import tables`` is ``mlreg.data.tables``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _imports_in(tree.body, import_time):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def internal(names: set[str]) -> set[str]:
    return {n for n in names if n in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module that
    imports itself), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_cycles_and_reads_imports() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert "mlreg.data.tables" in imports("mlreg.data.inference")
    assert "mlreg.errors" in imports("mlreg.data.inference")
    assert "mlreg.data.signature" in imports("mlreg.data.tables", import_time=False)  # under TYPE_CHECKING
    assert "mlreg.data.signature" not in imports("mlreg.data.tables")


def test_no_import_cycle_among_mlreg_modules() -> None:
    graph = {m: internal(imports(m)) for m in MODULES}
    assert cycles(graph) == []


def test_the_bottom_layer_imports_only_errors_and_names() -> None:
    allowed = {"mlreg.errors", "mlreg.names"}

    def above(name: str) -> bool:
        return (name == "mlreg" or name.startswith("mlreg.")) and not name.startswith("mlreg.data") and name not in allowed

    bad = {m: sorted(filter(above, imports(m, import_time=False))) for m in MODULES if m.startswith("mlreg.data")}
    assert {m: names for m, names in bad.items() if names} == {}


def test_lower_layers_do_not_import_upper_ones() -> None:
    """handlers, stage, package and data know nothing of the registry, deployments or CLI."""
    upper = ("mlreg.registry", "mlreg.deploy", "mlreg.cli", "mlreg.model_registry", "mlreg.session")
    lower = ("mlreg.data", "mlreg.package", "mlreg.handlers", "mlreg.stage")
    bad = {m: sorted(n for n in imports(m, import_time=False) if n.startswith(upper))
           for m in MODULES if m.startswith(lower)}
    assert {m: names for m, names in bad.items() if names} == {}


def test_only_the_cli_imports_rich() -> None:
    bad = sorted(m for m in MODULES if not m.startswith("mlreg.cli")
                 and any(n == "rich" or n.startswith("rich.") for n in imports(m, import_time=False)))
    assert bad == []


def test_every_module_imports_in_a_fresh_process() -> None:
    """Each module imported first, in a process of its own (a cycle shows up as a
    partially initialized module only when the import starts at the right place)."""
    names = sorted(m for m in MODULES if m != "mlreg.__main__")  # that one runs the CLI
    code = (
        "import subprocess, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True, text=True)\n"
        "    if r.returncode:\n"
        "        failed.append((name, r.stderr.strip().splitlines()[-1]))\n"
        "print(failed)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"


@pytest.mark.parametrize("module", ["mlreg.stage.remote", "mlreg.stage.transfer", "mlreg.stage.cache"])
def test_stage_modules_do_not_import_rich(module: str) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert module in imported  # the check reads what it should
    assert {m for m in imported if m == "rich" or m.startswith("rich.")} == set()
