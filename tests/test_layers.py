"""The import rules of the tree, read from the source of every module (imports inside functions included):

- `edge` is the core: it never imports `runtime`, `export` or `calibration` (its CLI, `edge/cli.py`, wires their
  subcommands in and is the one exception; `edge/__main__.py` only calls it);
- `export`, `calibration` and `runtime` never import each other: they meet through files;
- no cycles, neither between packages (`edge.pose`, `runtime.alerts`, ...; a package using its own subpackages is
  not a dependency between packages) nor between modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("edge", "runtime", "export", "calibration")
# Who may import whom, by top-level package.
ALLOWED = {"edge": {"edge"}, "export": {"edge", "export"}, "calibration": {"edge", "calibration"},
           "runtime": {"edge", "runtime"}}
# The entry points that wire every layer together are outside the rules.
WIRING = {"edge.cli", "edge.__main__"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(root: Path, path: Path) -> set[str]:
    """Every project module `path` imports, at any depth of its code, relative imports resolved."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            # `from package import module` imports the module
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in LAYERS}


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the project modules it imports (names that are not modules, e.g. functions, are dropped)."""
    files = {module_name(root, p): p for layer in LAYERS if (root / layer).is_dir()
             for p in sorted((root / layer).rglob("*.py"))}
    return {name: {m for m in imported_modules(root, path) if m in files and m != name}
            for name, path in files.items()}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in graph.items() if module not in WIRING
                  for target in targets if target.split(".")[0] not in ALLOWED[module.split(".")[0]])


def package_of(module: str, graph: dict[str, set[str]]) -> str:
    """The package a module belongs to (a package's __init__ belongs to the package itself)."""
    is_package = any(other.startswith(module + ".") for other in graph)
    return module if is_package else module.rpartition(".")[0]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, as a path that ends where it starts; None when there is none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        if module in WIRING:
            continue
        source = package_of(module, graph)
        for target in targets:
            destination = package_of(target, graph)
            # A package using its own subpackages is containment, not a dependency between packages (module
            # cycles through it are still caught at module level).
            if destination != source and not destination.startswith(source + "."):
                packages[source].add(destination)
    return packages


def check_tree(root: Path) -> list[str]:
    """Every broken rule in the tree at `root`, one line each."""
    graph = import_graph(root)
    problems = layer_violations(graph)
    if cycle := find_cycle({m: t for m, t in graph.items() if m not in WIRING}):
        problems.append("module cycle: " + " -> ".join(cycle))
    if cycle := find_cycle(package_graph(graph)):
        problems.append("package cycle: " + " -> ".join(cycle))
    return problems


def test_the_tree_keeps_its_import_rules():
    problems = check_tree(REPO)
    assert not problems, "import rules broken:\n" + "\n".join(problems)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for layer in LAYERS:
        (tmp_path / layer).mkdir(exist_ok=True)
        (tmp_path / layer / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize("text", [
    "from runtime.session import run\n",
    "def f():\n    import export.cli\n",              # lazy imports count too
    "from calibration import readers\n",
])
def test_edge_importing_an_outer_layer_is_caught(tmp_path, text):
    root = _tree(tmp_path, {"edge/skeletons.py": text, "runtime/session.py": "", "export/cli.py": "",
                            "calibration/readers.py": ""})
    assert [p for p in check_tree(root) if p.startswith("edge.skeletons imports")]


def test_the_cli_may_wire_the_outer_layers(tmp_path):
    root = _tree(tmp_path, {"edge/cli.py": "from runtime.cli import add_commands\n",
                            "runtime/cli.py": "import edge.cli\n"})
    assert check_tree(root) == []


def test_outer_layers_may_not_import_each_other(tmp_path):
    root = _tree(tmp_path, {"export/onnx.py": "from runtime.config import RunConfig\n", "runtime/config.py": ""})
    assert check_tree(root) == ["export.onnx imports runtime.config"]


def test_cycles_are_caught(tmp_path):
    root = _tree(tmp_path, {"edge/a/__init__.py": "", "edge/a/x.py": "from edge.b import y\n",
                            "edge/b/__init__.py": "", "edge/b/y.py": "from ..a import x\n"})
    problems = check_tree(root)
    assert "module cycle: edge.a.x -> edge.b.y -> edge.a.x" in problems
    assert "package cycle: edge.a -> edge.b -> edge.a" in problems
    root = _tree(tmp_path / "packages", {"edge/a/__init__.py": "", "edge/a/x.py": "from edge.b import y\n",
                                          "edge/b/__init__.py": "", "edge/b/y.py": "",
                                          "edge/b/z.py": "import edge.a\n"})
    assert check_tree(root) == ["package cycle: edge.a -> edge.b -> edge.a"]
