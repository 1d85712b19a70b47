"""The real import graph of src/tocsin: a root of core modules only, and no cycles.

The floors themselves are import-linter's contracts (``[tool.importlinter]`` in
pyproject.toml, run by ``lint-imports``); these checks are what a layers contract
cannot say.  The graph is grimp's, the library import-linter is built on.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tocsin"


def _core_floor() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    # The lowest floor comes last; its modules are split by ":" (or "|" if independent).
    return {name.strip() for name in re.split(r"[:|]", layers[-1])}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Imports under ``if TYPE_CHECKING:`` never run, so they close no cycle.
    return grimp.build_graph("tocsin", exclude_type_checking_imports=True, cache_dir=None)


def test_the_package_root_holds_only_core_modules_and_packages():
    core = _core_floor()
    loose = {f"tocsin.{p.stem}" for p in PACKAGE.glob("*.py") if not p.name.startswith("_")}
    assert len(loose) > 10
    assert sorted(loose - core) == []


def test_no_two_modules_import_each_other(graph: grimp.ImportGraph):
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_store_modules_form_no_cycle(graph: grimp.ImportGraph):
    # The named cycle: outbox_sql <-> tracking_sql (tracking_sql may not look up).
    chain = graph.find_shortest_chain(
        importer="tocsin.store.tracking_sql", imported="tocsin.store.outbox_sql"
    )
    assert chain is None
