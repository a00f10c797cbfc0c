"""The package's floors (docs/architecture.md): no upward import, no import circle.

Every import counts, lazy ones inside functions included: a circle broken by a late import
is still a circle for the reader who has to know which module comes first.
"""

from __future__ import annotations

import graphlib
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def import_cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One circle of direct imports between the graph's modules, or None."""
    deps = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    try:
        tuple(graphlib.TopologicalSorter(deps).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


@pytest.fixture
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("inkbench", cache_dir=None)


def test_no_module_imports_a_floor_above_its_own() -> None:
    # The contract (pyproject.toml, [tool.importlinter]) lists every top-level package, so a
    # new one fails here until it is given a floor.
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "1 kept, 0 broken" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0


def test_no_import_circle(graph: grimp.ImportGraph) -> None:
    assert import_cycle(graph) is None


def test_lazy_imports_count(graph: grimp.ImportGraph) -> None:
    # validate_config imports the model registry inside the function; the graph must see it,
    # or a circle hidden behind a late import would pass.
    assert graph.direct_import_exists(importer="inkbench.config", imported="inkbench.models")


def test_a_planted_circle_is_found(graph: grimp.ImportGraph) -> None:
    # decoding.lm -> runs.store -> config -> models -> ... -> decoding.lm
    graph.add_import(importer="inkbench.decoding.lm", imported="inkbench.runs.store")
    cycle = import_cycle(graph)
    assert cycle is not None
    assert "inkbench.decoding.lm" in cycle and "inkbench.runs.store" in cycle
