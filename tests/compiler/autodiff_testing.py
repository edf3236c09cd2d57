"""Shared by the autodiff tests: every graph a transformation builds must validate.

``validated_graphs`` checks each graph a transformation (grad, jacobian, vjp,
jvp, hessian, ...) builds, both as built and after optimisation. Use it with
``pytestmark = pytest.mark.usefixtures("validated_graphs")`` after importing it.
"""

from __future__ import annotations

import importlib

import pytest

from compiler.transforms import Transformed
from tracer import validate

# the module, not the ``compiler.compile`` function that ``compiler`` exports
_compile_module = importlib.import_module("compiler.compile")


@pytest.fixture
def validated_graphs(monkeypatch):
    """Validate every graph built during a test; returns the list of those graphs."""
    built = []
    build, optimize = Transformed._optimized_graph, _compile_module.optimize

    def checked_optimize(graph, *args, **kwargs):  # the transformed graph, before the passes
        validate(graph)
        return optimize(graph, *args, **kwargs)

    def checked_build(self, *args, **kwargs):  # what is compiled and run
        graph = build(self, *args, **kwargs)
        validate(graph)
        built.append(graph)
        return graph

    monkeypatch.setattr(_compile_module, "optimize", checked_optimize)
    monkeypatch.setattr(Transformed, "_optimized_graph", checked_build)
    return built
