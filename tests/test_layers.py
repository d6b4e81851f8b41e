"""The package's import layering, read from the source with ``ast`` (no dependency).

Each module belongs to one layer and imports only modules of lower layers or of its
own layer, and no module imports itself back through any chain (no cycles), lazy
imports inside functions included. Top to bottom, a fit runs through them in this
order: the entry points and the public API call the training driver, which takes its
validated options and start-up from the layer below, which runs the backends, which
load the kernels; the foundations (validation of single arguments, errors, the
parameter layout, the geometry) serve every layer.

A new module must be placed in a layer here: the test fails on a module it does not know.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import twolayer

LAYERS: list[tuple[str, set[str]]] = [
    ("entry points", {"__main__", "cli", "_cli_csv", "_bench", "_bench_workloads",
                      "_bench_measure", "_bench_report", "_bench_predict", "_bench_epochs",
                      "_bench_isa", "_warmup"}),
    ("public API", {"__init__", "_api", "estimator", "sklearn", "_convert", "_io",
                    "_show_config", "datasets"}),
    ("training driver", {"_training", "_mpi"}),
    ("options and start-up", {"_options", "_setup", "_early_stopping", "_progress", "_labels",
                              "_sklearn_compat", "_diagnostics", "_npz"}),
    # The backends' registry and what runs their kernels: forward passes, training epochs.
    ("backends", {"_backends", "_predict", "_epochs"}),
    ("kernels", {"_reference", "_numba_backend", "_numba_kernels", "_numba_epochs", "_cpu",
                 "_numba_jit", "_numba_fastmath", "_numba_vector", "_numba_tile",
                 "_numba_gather", "_numba_optimizer",
                 "_cython_kernels", "_tutorial"}),
    ("foundations", {"_validation", "_errors", "_params", "_geometry", "_fork", "_machine",
                     "_solver_codes",
                     "_version", "_build_info"}),
]  # fmt: skip
LAYER_OF = {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}
PACKAGE = Path(twolayer.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def imported_modules(name: str) -> set[str]:
    """The package's modules that module ``name`` imports, anywhere in its body."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    known = set(MODULES) | set(LAYER_OF)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from ._x import y
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import _x, name
                found.update(a.name if a.name in known else "__init__" for a in node.names)
            elif node.module and node.module.split(".")[0] == "twolayer":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "twolayer":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    found.discard(name)
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def test_the_parser_sees_the_imports_it_must_see() -> None:
    # The checks below are only as good as this: known edges of every import form.
    assert "_training" in GRAPH["_api"]  # from ._training import ...
    assert "_predict" in GRAPH["_api"]  # from . import _predict
    assert "_mpi" in GRAPH["_api"]  # a lazy import inside fit
    assert "estimator" in GRAPH["_io"]  # lazy: from .estimator import ...
    assert "cli" in GRAPH["__main__"]  # absolute: from twolayer.cli import main


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if m not in LAYER_OF] == []


@pytest.mark.parametrize("name", MODULES)
def test_imports_go_down_the_layers(name: str) -> None:
    upward = {
        other: LAYERS[LAYER_OF[other]][0]
        for other in GRAPH[name]
        if LAYER_OF.get(other, -1) < LAYER_OF[name]
    }
    assert upward == {}, f"{name} ({LAYERS[LAYER_OF[name]][0]}) imports a higher layer"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every chain of imports that leads back to where it started (depth-first)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph.get(name, ())):
            if state.get(other) == 1:
                found.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []
