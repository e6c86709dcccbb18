"""The layers hold: no import cycle among mlserve's modules, the contract is a leaf, and the
in-cluster autoscaler does not depend on the deploy backends."""

from __future__ import annotations

import importlib

from tests.import_graph import cycles, import_graph, modules


def test_every_module_imports():
    # The graph is read from the source; this proves each module also imports (no cycle at runtime).
    for name in sorted(modules()):
        if name.endswith("__main__"):
            continue  # runs its program
        importlib.import_module(name)


def test_no_import_cycle_among_mlserve_modules():
    assert cycles(import_graph()) == []


def test_the_contract_imports_nothing_of_mlserve():
    graph = import_graph()
    outside = {(a, b) for a in graph if a.startswith("mlserve.contract") for b in graph[a]
               if not b.startswith("mlserve.contract")}
    assert outside == set()


def test_the_autoscaler_depends_on_the_contract_not_on_deploy():
    graph = import_graph()
    uses = {b for a in graph if a.startswith("mlserve.autoscaler") for b in graph[a]}
    assert not {b for b in uses if b.startswith(("mlserve.deploy", "mlserve.kinds"))}
    assert "mlserve.contract.metrics" in uses and "mlserve.contract.labels" in uses


def test_the_runtime_splitter_and_spec_know_no_kind_or_backend():
    graph = import_graph()
    for layer in ("mlserve.runtime", "mlserve.splitter", "mlserve.spec", "mlserve.models"):
        uses = {b for a in graph if a.startswith(layer) for b in graph[a]}
        assert not {b for b in uses if b.startswith(("mlserve.deploy", "mlserve.kinds", "mlserve.cli"))}, layer
