"""The package's layers stay true: imports go down (faces → work / local → wire → config →
errors), never up or sideways between work and local, and no module imports itself in a circle.

Imports are read with `ast`, including those inside functions: a lazy import is still a
dependency. Imports under `if TYPE_CHECKING:` are for annotations only and are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "compat_nb"

# Lower may never import higher. Equal ranks in different packages may not import each other.
RANKS = {"errors": 0, "_version": 0, "config": 1, "wire": 2, "work": 3, "local": 3, "faces": 4}
TOP = {"__init__", "__main__"}  # the package itself: its lazy exports reach every layer


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """'wire' for compat_nb.wire.client; None for the package root and its entry points."""
    parts = module.split(".")
    if parts[0] != "compat_nb":
        return None
    if len(parts) == 1 or parts[1] in TOP:
        return None
    return parts[1]


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports_of(source: str, module: str, *, is_package: bool) -> set[str]:
    """Every compat_nb module `source` (the text of `module`) imports at run time."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node):
            skipped.update(id(n) for n in ast.walk(node))
    here = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("compat_nb"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("compat_nb"):
                continue
            found.add(target)
            # `from . import display` imports a module, not a name: count it as one.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if _exists(candidate):
                    found.add(candidate)
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def upward(importer: str, imported: str) -> bool:
    """True when importer may not import imported by the layering rule."""
    low, high = layer_of(importer), layer_of(imported)
    if low is None or high is None or low == high:
        return False
    return RANKS[high] >= RANKS[low]


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        source = path.read_text(encoding="utf-8")
        edges[name] = imports_of(source, name, is_package=path.name == "__init__.py")
    return edges


def test_every_module_belongs_to_a_layer() -> None:
    for name in graph():
        layer = layer_of(name)
        assert layer is None or layer in RANKS, f"{name} is in no known layer"


def test_imports_only_go_down() -> None:
    wrong = [
        f"{importer} imports {imported}"
        for importer, targets in graph().items()
        for imported in sorted(targets)
        if upward(importer, imported)
    ]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_circles() -> None:
    edges = graph()
    # Submodules only: a package's __init__ is reached by importing anything inside it.
    inner = {m: {t for t in ts if t in edges and t != "compat_nb"} for m, ts in edges.items()}
    inner.pop("compat_nb", None)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(inner.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(inner):
        if node not in state:
            visit(node)


@pytest.mark.parametrize(
    ("module", "source", "bad"),
    [
        ("compat_nb.wire.client", "from ..work.translation import Translation\n", True),
        ("compat_nb.config.store", "def f():\n    from ..wire import client\n", True),
        ("compat_nb.work.history", "from ..faces.tables import preset_table\n", True),
        ("compat_nb.work.chunking", "from ..local import start\n", True),
        ("compat_nb.faces.cells", "from ..work.translation import Translation\n", False),
        ("compat_nb.wire.client", "from ..config.presets import Preset\n", False),
    ],
)
def test_the_checker_sees_a_deliberate_upward_import(module: str, source: str, bad: bool) -> None:
    found = imports_of(source, module, is_package=False)
    assert found, "the import was not read"
    assert any(upward(module, target) for target in found) is bad


def test_annotations_only_imports_are_not_dependencies() -> None:
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from ..work.translation import Translation\n"
    )
    assert imports_of(source, "compat_nb.wire.client", is_package=False) == set()
