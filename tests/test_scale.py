"""Scale: very deep and very wide graphs go through grad + optimise + compile + run.

Everything is iterative: a 200,000-op chain would overflow Python's stack (default
recursion limit 1000) in any recursive pass, and a value used 100,000 times gets
its gradient summed from 100,000 contributions. ``benchmarks/scale.py`` times the
same work per phase up to 1,000,000 ops.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from compiler import build_grad_graph, grad, value_and_grad
from tracer import evaluate, trace

N_CHAIN = 200_000
N_FANOUT = 100_000


@pytest.fixture
def default_recursion_limit():
    """Python's default limit during the test: deep graphs must not need a deeper stack."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        assert sys.getrecursionlimit() == 1000, "tracegrad changed the recursion limit"
        sys.setrecursionlimit(old)


def chain(x):
    for i in range(N_CHAIN):
        k = i % 3
        if k == 0:
            x = np.sin(x)
        elif k == 1:
            x = x * 1.0001
        else:
            x = x + 0.1
    return np.sum(x)


def chain_reference(x):
    """Value and derivative of ``chain`` by forward accumulation in plain NumPy."""
    y, g = x.copy(), np.ones_like(x)
    for i in range(N_CHAIN):
        k = i % 3
        if k == 0:
            y, g = np.sin(y), g * np.cos(y)
        elif k == 1:
            y, g = y * 1.0001, g * 1.0001
        else:
            y = y + 0.1
    return np.sum(y), g


@pytest.mark.slow
def test_long_chain_grad_compile_and_run(default_recursion_limit, capfd):
    x = np.array([0.2, 0.5, 0.9])
    f = value_and_grad(chain)
    value, gx = f(x)
    # seconds of work are never silent: each step of a graph this size says what it does
    err = capfd.readouterr().err
    for step in ("building value_and_grad_chain", "optimising", "generating numpy code"):
        assert f"tracegrad: {step}" in err and "done in" in err, err
    ref_value, ref_grad = chain_reference(x)
    np.testing.assert_allclose(value, ref_value, rtol=1e-10)
    np.testing.assert_allclose(gx, ref_grad, rtol=1e-9)
    graph = f.trace(x)
    assert graph.number_of_nodes() > N_CHAIN  # optimised, still every op of the chain
    value2, gx2 = f(x + 0.0)  # cached: the compiled code runs again
    np.testing.assert_array_equal(gx2, gx)
    assert f.trace_count == 1


def fan_out(x):
    y = x
    for _ in range(N_FANOUT):
        y = y + x  # x is used N_FANOUT + 1 times
    return np.sum(y * y)


@pytest.mark.slow
def test_value_used_100k_times(default_recursion_limit):
    x = np.array([0.5, -1.0, 2.0])
    gx = grad(fan_out)(x)
    n = N_FANOUT + 1
    np.testing.assert_allclose(gx, 2 * n * n * x, rtol=1e-12)  # y = n x, d sum(y^2)/dx = 2 n^2 x
    # the unoptimised gradient graph sums 100,001 contributions and agrees
    g = build_grad_graph(trace(fan_out).trace(x), keep_value=False)
    accum = sum(1 for d in g.nodes.values() if d.get("accum") and d["op"] == "add")
    assert accum >= N_FANOUT
    (g_unoptimised,) = evaluate(g, x)
    np.testing.assert_allclose(g_unoptimised, 2 * n * n * x, rtol=1e-12)
