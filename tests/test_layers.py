"""The import graph follows the layers of docs/architecture.md: data flow one way, load → validate
→ frame → analyse → present → batch, and no module imports from a later layer than its own.

The layer of each module is read from the table "Modules by layer" of docs/architecture.md (the one
place it is written); an import that goes up must be listed under "Upward imports" there, with its
reason. Module-level and function-level imports both count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ipm_analysis"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
ROOT_PACKAGE = ""  # ``ipm_analysis`` itself: the public face, above every layer


def layer_table(text: str) -> tuple[dict[str, str], list[str]]:
    """``{module: layer}`` and the layers in order, from the table under "Modules by layer"."""
    layers: dict[str, str] = {}
    order: list[str] = []
    section = text.split("## Modules by layer", 1)[1].split("\n## ", 1)[0]
    current = None
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "layer" or set(cells[0]) == {"-"}:
            continue
        if cells[0]:
            current = cells[0]
            order.append(current)
        for name in re.findall(r"`([\w.]+)`", cells[1]):
            layers[name] = current
    return layers, order


def upward_allowed(text: str) -> set[tuple[str, str]]:
    """The upward imports docs/architecture.md lists (``- `a` → `b`: why``)."""
    if "### Upward imports" not in text:
        return set()
    section = text.split("### Upward imports", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^- `([\w.]+)` → `([\w.]+)`", section, re.M))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports (anywhere in its code)."""
    paths = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for mod, path in paths.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        package = [p for p in package if p]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package[:len(package) - node.level + 1]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                elif node.module and (node.module == "ipm_analysis" or node.module.startswith("ipm_analysis.")):
                    base = node.module[len("ipm_analysis"):].lstrip(".")
                else:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}".lstrip(".")
                    targets.add(full if full in paths else base)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "ipm_analysis" or alias.name.startswith("ipm_analysis."):
                        targets.add(alias.name[len("ipm_analysis"):].lstrip("."))
        graph[mod] = targets - {mod}
    return graph


def layer_of(mod: str, layers: dict[str, str], order: list[str], modules: set[str]) -> str | None:
    """A module's layer: its own row, else its package's row (``demo.koffie`` → ``demo``); a
    package's ``__init__`` without a row of its own has the latest layer of its modules (it
    gathers their names); the package root is above every layer."""
    if mod == ROOT_PACKAGE:
        return order[-1]
    parts = mod.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in layers:
            return layers[".".join(parts[:i])]
    inner = [layers[m] for m in layers if m.startswith(mod + ".")]
    return max(inner, key=order.index) if inner else None


def upward_imports() -> tuple[list[tuple[str, str, str, str]], list[str]]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    layers, order = layer_table(text)
    graph = import_graph()
    modules = set(graph)
    missing = sorted(m for m in modules if layer_of(m, layers, order, modules) is None)
    up = []
    for mod, targets in sorted(graph.items()):
        own = layer_of(mod, layers, order, modules)
        for t in sorted(targets):
            theirs = layer_of(t, layers, order, modules)
            if own and theirs and order.index(theirs) > order.index(own):
                up.append((mod, own, t, theirs))
    return up, missing


def test_the_layer_table_names_every_module_and_the_layers_in_data_flow_order():
    layers, order = layer_table(ARCHITECTURE.read_text(encoding="utf-8"))
    assert order == ["foundation", "load", "frame", "analyse", "present", "batch"]
    _, missing = upward_imports()
    assert not missing, f"modules without a layer in docs/architecture.md: {missing}"
    assert {"errors", "data", "modelframe", "effects", "summary", "batch.schedule"} <= set(layers)


def test_no_module_imports_from_a_later_layer_than_its_own():
    up, _ = upward_imports()
    allowed = upward_allowed(ARCHITECTURE.read_text(encoding="utf-8"))
    found = {(m, t) for m, _, t, _ in up}
    unlisted = [f"{m} ({lm}) imports {t} ({lt})" for m, lm, t, lt in up if (m, t) not in allowed]
    assert not unlisted, "upward imports not listed under 'Upward imports' in docs/architecture.md: " + "; ".join(unlisted)
    stale = sorted(allowed - found)
    assert not stale, f"listed as upward imports in docs/architecture.md but gone: {stale}"


def test_the_graph_sees_module_level_function_level_and_relative_imports(tmp_path):
    """The walk itself, on the package: known arrows of each kind are found."""
    graph = import_graph()
    assert "errors" in graph["data"]  # module level, relative
    assert "data" in graph["batch.jobs"]  # inside a function, two levels up
    assert "batch.write" in graph["batch.schedule"]  # a sibling in a subpackage
    assert "demo.koffie" in graph["demo.generate"]  # ``from . import koffie``
    assert "data" in graph[ROOT_PACKAGE]
