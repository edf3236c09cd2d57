"""``tracer.scipy.special``: logsumexp, softmax, log_softmax and the special ufuncs give SciPy's
numbers, shapes and dtypes, trace, and have gradients that match central differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tracer_testing import make_array

from compiler import check_grad, grad
from tracer import ops, trace
from tracer.scipy import special

sc = pytest.importorskip("scipy.special")

A = make_array((3, 4), "float64", low=-3.0, high=3.0)
B = make_array((4,), "float64", low=0.1, high=2.0, seed=1)


def _same(got, expected, rtol=1e-12):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got, expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


LOGSUMEXP = [
    ({}, A),
    ({"axis": 0}, A),
    ({"axis": -1, "keepdims": True}, A),
    ({"axis": (0, 1)}, A),
    ({"b": B}, A),
    ({"b": B, "axis": 1, "keepdims": True}, A),
    ({"b": np.array([1.0, -2.0, 0.5, 0.0]), "axis": 1, "return_sign": True}, A),
    ({"b": -1.0, "return_sign": True}, A),
    ({}, np.float64(1.5)),
    ({"keepdims": True}, np.float64(1.5)),
    ({}, A.astype(np.float32)),
    ({"b": B.astype(np.float32), "axis": 0}, A.astype(np.float32)),
    ({"axis": 1}, np.arange(6).reshape(2, 3)),
    ({}, np.array([-np.inf, -np.inf])),
    ({}, np.array([np.inf, 1.0])),
    ({"b": np.array([1.0, 0.0])}, np.array([1.0, np.inf])),
    ({"b": np.array([1.0, -1.0])}, np.array([2.0, 2.0])),  # a zero sum
    ({"b": np.array([1.0, -2.0])}, np.array([2.0, 2.0])),  # negative: nan
    ({"axis": 0}, np.zeros((0, 3))),
]


@pytest.mark.parametrize("kwargs, a", LOGSUMEXP, ids=lambda v: str(v)[:40])
def test_logsumexp_equals_scipy(kwargs, a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = sc.logsumexp(a, **kwargs)
        got = trace(lambda x: special.logsumexp(x, **kwargs))(a)
    rtol = 1e-5 if np.asarray(a).dtype == np.float32 else 1e-12
    if kwargs.get("return_sign"):
        assert isinstance(got, tuple) and len(got) == 2
        _same(got[0], expected[0], rtol)
        _same(got[1], expected[1], rtol)
    else:
        _same(got, expected, rtol)


def test_logsumexp_of_python_numbers_and_traced_weights():
    _same(special.logsumexp([1.0, 2.0, 3.0]), sc.logsumexp([1.0, 2.0, 3.0]))
    _same(trace(lambda b: special.logsumexp(A, axis=1, b=b))(B), sc.logsumexp(A, axis=1, b=B))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_softmax_and_log_softmax_equal_scipy(name, axis, dtype):
    a = A.astype(dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    _same(trace(lambda x: getattr(special, name)(x, axis=axis))(a),
          getattr(sc, name)(a, axis=axis), rtol)  # fmt: skip


def test_log_softmax_is_accurate_where_softmax_underflows():
    x = np.array([1000.0, 1.0, -np.inf])
    _same(trace(special.log_softmax)(x), sc.log_softmax(x))
    assert trace(special.log_softmax)(x)[1] == -999.0


def test_the_special_ufuncs_are_reexported():
    for name in ("gammaln", "digamma", "psi", "polygamma", "erf", "expit", "xlogy", "i1e"):
        assert getattr(special, name) is getattr(ops, name)
    assert set(special.__all__) >= {"logsumexp", "softmax", "log_softmax", "gammaln"}
    _same(trace(special.gammaln)(B), sc.gammaln(B))


# ----- gradients -----


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: special.logsumexp(a),
        lambda a: special.logsumexp(a, axis=1, b=B),
        lambda a: special.logsumexp(a, axis=0, keepdims=True),
        lambda a: special.logsumexp(a, axis=1, b=B, return_sign=True)[0],
        lambda a: special.softmax(a, axis=1),
        lambda a: special.log_softmax(a, axis=0),
        lambda a: special.log_softmax(a),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradients_match_central_differences(fn, dtype):
    a = A.astype(dtype)
    if dtype == "float64":
        check_grad(fn, a, order=2)
    else:  # float32 stays float32
        g = grad(lambda x: np.sum(np.sin(fn(x))))(a)
        assert g.dtype == np.float32
        check_grad(fn, a, order=2, eps=1e-3, rtol=2e-3, atol=2e-3)


def test_gradient_of_logsumexp_is_softmax():
    np.testing.assert_allclose(grad(special.logsumexp)(A), sc.softmax(A), rtol=1e-13)
    # with a weight: b * exp(a - logsumexp)
    g = grad(lambda a: special.logsumexp(a, b=B))(A)
    np.testing.assert_allclose(g, B * np.exp(A - sc.logsumexp(A, b=B)), rtol=1e-13)
    # a weight of 0 hides an infinite entry from the value and the gradient
    x = np.array([1.0, np.inf])
    np.testing.assert_array_equal(grad(lambda a: special.logsumexp(a, b=[1.0, 0.0]))(x), [1, 0])
