"""Properties of random programs over the primitive set (hypothesis), across every back end.

The programs come from ``tests/compiler/test_random_programs.py`` (``programs``:
every primitive family, random broadcasting shapes; ``Program.last`` is the last
value, ``Program.loss`` a weighted sum of every value). That module checks the
gradient against central differences and jvp against vjp for the reference
path; here the same programs go through the other paths:

- traced == NumPy, interpreted and compiled (values, shapes and dtypes);
- optimised == unoptimised, for forward and gradient graphs;
- the optimised, compiled gradient == central differences;
- jvp along a direction == the gradient's dot product with it;
- save/load round trips exactly (same text again, same attributes, same bits);
- compile(T(f)) == T(f) for transformations T and their compositions.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import networkx as nx
import numpy as np
from hypothesis import given, settings

from compiler import build_grad_graph, compile, grad, jacobian, jvp, numerical_grad, value_and_grad
from compiler.passes import optimize
from tracer import evaluate, trace, validate
from tracer.pytree import flatten
from tracer.serialize import from_json, to_json


def _random_programs():
    """The generators of tests/compiler/test_random_programs.py (the module pytest imports)."""
    module = sys.modules.get("test_random_programs")
    if module is None:
        here = Path(__file__).parent / "compiler"
        if str(here) not in sys.path:  # its helpers (autodiff_testing) live beside it
            sys.path.append(str(here))
        path = here / "test_random_programs.py"
        spec = importlib.util.spec_from_file_location("test_random_programs", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["test_random_programs"] = module
        spec.loader.exec_module(module)
    return module


_rp = _random_programs()
programs, SETTINGS = _rp.programs, _rp.SETTINGS


def as_list(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_close(got, expected, rtol):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * 1e-3)


@settings(max_examples=250, **SETTINGS)
@given(programs())
def test_traced_and_compiled_equal_numpy(prog):
    args = prog.inputs
    expected = prog.last(*args)
    assert_close(trace(prog.last)(*args), expected, rtol=1e-12)
    assert_close(compile(prog.last)(*args), expected, rtol=1e-12)
    assert_close(compile(prog.last, passes=())(*args), expected, rtol=1e-12)


@settings(max_examples=150, **SETTINGS)
@given(programs())
def test_optimised_equals_unoptimised(prog):
    args = prog.inputs
    fwd = trace(prog.loss).trace(*args)
    for graph in (fwd, build_grad_graph(fwd)):
        opt = optimize(graph)
        validate(opt)
        assert opt.number_of_nodes() <= graph.number_of_nodes()
        assert opt.graph["inputs"] == graph.graph["inputs"]
        for got, expected in zip(as_list(evaluate(opt, *args)), as_list(evaluate(graph, *args))):
            assert_close(got, expected, rtol=1e-9)  # rewrites may reassociate, so not bitwise


@settings(max_examples=80, **SETTINGS)
@given(programs(max_steps=6))
def test_compiled_gradient_equals_central_differences(prog):
    args = prog.inputs
    argnums = tuple(range(len(args)))
    analytic = grad(prog.loss, argnums=argnums)(*args)  # optimised + generated code
    numeric = numerical_grad(prog.loss, *args, argnums=argnums)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-4, atol=1e-5)


@settings(max_examples=80, **SETTINGS)
@given(programs(max_steps=6))
def test_jvp_equals_gradient_dot_direction(prog):
    args = prog.inputs
    rng = np.random.default_rng(prog.seed + 7)
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    value, directional = jvp(prog.loss, tuple(args), tangents)
    grads = grad(prog.loss, argnums=tuple(range(len(args))))(*args)
    np.testing.assert_allclose(value, prog.loss(*args), rtol=1e-12)
    expected = sum(np.sum(g * t) for g, t in zip(grads, tangents))
    np.testing.assert_allclose(directional, expected, rtol=1e-9, atol=1e-9)


def _node_data(graph) -> dict:
    """Every node's attributes, arrays as (dtype, shape, bytes): comparable exactly."""
    out = {}
    for n, d in graph.nodes(data=True):
        row = {}
        for k, v in d.items():
            if isinstance(v, np.ndarray):
                v = (v.dtype.str, v.shape, v.tobytes())
            row[k] = v
        out[n] = row
    return out


@settings(max_examples=100, **SETTINGS)
@given(programs())
def test_save_load_round_trip_is_exact(prog):
    args = prog.inputs
    fwd = trace(prog.loss).trace(*args)
    for graph in (fwd, build_grad_graph(fwd), grad(prog.loss).trace(*args)):
        text = to_json(graph)
        loaded = from_json(text)
        assert to_json(loaded) == text  # a fixed point
        assert _node_data(loaded) == _node_data(graph)
        assert sorted(loaded.edges(data="arg")) == sorted(graph.edges(data="arg"))
        assert nx.is_isomorphic(loaded, graph)
        for key in ("inputs", "outputs", "in_tree", "out_tree"):
            assert loaded.graph[key] == graph.graph[key]
        for got, expected in zip(as_list(evaluate(loaded, *args)), as_list(evaluate(graph, *args))):
            np.testing.assert_array_equal(got, expected)  # bit for bit


@settings(max_examples=60, **SETTINGS)
@given(programs(max_steps=5))
def test_compile_of_a_transformation_equals_the_transformation(prog):
    """compile(T(f)) == T(f) for grad, value_and_grad, jacobian and hessian-vector forms."""
    args = prog.inputs
    argnums = tuple(range(len(args)))
    for transformed in (
        grad(prog.loss, argnums=argnums),
        value_and_grad(prog.loss),
        jacobian(prog.last),
        grad(lambda *a: np.sum(grad(prog.loss)(*a) ** 2)),
    ):
        expected, got = transformed(*args), compile(transformed)(*args)
        for e, g in zip(_flat(expected), _flat(got)):
            np.testing.assert_array_equal(g, e)


def _flat(out) -> list:
    return [np.asarray(v) for v in flatten(out)[0]]
