"""Helpers shared by the tracer tests: random arrays of a dtype, and "traced equals NumPy"."""

from __future__ import annotations

import numpy as np

from tracer import trace, validate


def make_array(shape, dtype, *, low=-2.0, high=2.0, seed=0) -> np.ndarray:
    """A deterministic (possibly 0-d) ndarray of ``shape``/``dtype`` with values in [low, high]."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if dt.kind in "iu":
        lo, hi = int(np.ceil(low)), int(np.floor(high)) + 1
        return np.asarray(rng.integers(lo, hi, size=shape)).astype(dt)
    return np.asarray(rng.uniform(low, high, size=shape)).astype(dt)


def assert_same(got, expected) -> None:
    """Same type of result, same shape, same dtype, same numbers (NaNs equal)."""
    got_a, exp_a = np.asarray(got), np.asarray(expected)
    assert got_a.shape == exp_a.shape, (got_a.shape, exp_a.shape)
    assert got_a.dtype == exp_a.dtype, (got_a.dtype, exp_a.dtype)
    if exp_a.dtype.kind in "fc":
        tol = 1e-5 if exp_a.dtype in (np.float32, np.complex64) else 1e-12
        np.testing.assert_allclose(got_a, exp_a, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got_a, exp_a)


def check_traced(fn, *args, **kwargs):
    """Trace ``fn``; check its graph validates and its result equals NumPy. Returns the graph."""
    expected = fn(*args, **kwargs)
    tf = trace(fn)
    got = tf(*args, **kwargs)
    graph = tf.trace(*args, **kwargs)
    validate(graph)
    _assert_tree_same(got, expected)
    return graph


def _assert_tree_same(got, expected):
    if isinstance(expected, (tuple, list)):
        assert type(got) is type(expected)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            _assert_tree_same(g, e)
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(expected)
        for k in expected:
            _assert_tree_same(got[k], expected[k])
    elif expected is None:
        assert got is None
    else:
        assert_same(got, expected)


def ops_of(graph) -> list[str]:
    """The ``op`` of every node, in id order."""
    return [graph.nodes[n]["op"] for n in sorted(graph.nodes)]
