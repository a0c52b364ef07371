"""The package's layers: each subpackage imports only the layers before it in LAYERS (imports
inside functions included), so the kernel layers never depend on orchestration and a reader
can go top-down. engine/__init__.py (the lazy API) and the CLI sit on top."""

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
LAYERS = ("runtime", "model", "life", "sim", "population", "store", "batch", "analysis", "cli")


def imported_layers(path: Path) -> set[str]:
    """The top-level engine modules or subpackages that `path` imports."""
    here = path.relative_to(ENGINE).with_suffix("").parts
    package = here[:-1]
    tree = ast.parse(path.read_text())
    typing_only = {  # `if TYPE_CHECKING:` imports name types for annotations, never run
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target[0]] if target else [a.name for a in node.names]
            found.update(names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine."):
            found.add(node.module.split(".")[1])
    return found


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_a_layer_imports_only_the_layers_before_it(layer):
    own = LAYERS.index(layer)
    files = (
        [ENGINE / "runtime.py"] if layer == "runtime" else sorted((ENGINE / layer).rglob("*.py"))
    )
    assert files
    for path in files:
        for target in imported_layers(path) - {layer}:
            assert target in LAYERS, f"{path.relative_to(ENGINE)} imports engine.{target}"
            assert LAYERS.index(target) < own, (
                f"{path.relative_to(ENGINE)} ({layer}) imports engine.{target}, a layer after it"
            )
