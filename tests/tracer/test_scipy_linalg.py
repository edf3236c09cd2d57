"""``tracer.scipy.linalg`` equals ``scipy.linalg`` (SciPy is a test dependency only)."""

from __future__ import annotations

import numpy as np
import pytest
from tracer_testing import make_array

from compiler import compile
from tracer import trace
from tracer.scipy import linalg as tl

sl = pytest.importorskip("scipy.linalg")


def _spd(n, dtype="float64", seed=0):
    a = make_array((n, n), "float64", seed=seed)
    return (a @ a.T + n * np.eye(n)).astype(dtype)


def _close(got, expected, dtype):
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lower", [False, True])
def test_cholesky_reads_the_triangle_scipy_reads(lower, dtype):
    a = np.triu(_spd(4, dtype)) if not lower else np.tril(_spd(4, dtype))  # other triangle 0
    a = a + (np.tril(np.full((4, 4), 9.0, dtype), -1) if not lower else 0)  # ... or junk
    expected = sl.cholesky(a, lower=lower)
    _close(trace(lambda m: tl.cholesky(m, lower=lower))(a), expected, dtype)
    _close(tl.cholesky(a, lower=lower), expected, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("trans", [0, 1, 2, "N", "T", "C"])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("unit_diagonal", [False, True])
@pytest.mark.parametrize("b_shape", [(4,), (4, 2)])
def test_solve_triangular_equals_scipy(trans, lower, unit_diagonal, b_shape, dtype):
    a = make_array((4, 4), dtype) + 3 * np.eye(4, dtype=dtype)
    b = make_array(b_shape, dtype, seed=1)
    kw = dict(trans=trans, lower=lower, unit_diagonal=unit_diagonal)
    expected = sl.solve_triangular(a, b, **kw)
    _close(trace(lambda m, v: tl.solve_triangular(m, v, **kw))(a, b), expected, dtype)
    _close(compile(lambda m, v: tl.solve_triangular(m, v, **kw))(a, b), expected, dtype)


def test_solve_triangular_integer_operands_compute_in_float64():
    a, b = np.array([[2, 0], [1, 4]]), np.array([1, 2])
    _close(trace(lambda m, v: tl.solve_triangular(m, v, lower=True))(a, b),
           sl.solve_triangular(a, b, lower=True), "float64")  # fmt: skip


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lower", [False, True])
def test_cho_factor_and_cho_solve_equal_scipy(lower, dtype):
    s, b = _spd(4, dtype), make_array((4, 3), dtype, seed=2)
    c, low = sl.cho_factor(s, lower=lower)
    got_c, got_low = trace(lambda m: tl.cho_factor(m, lower=lower))(s)
    assert got_low == low
    part = np.tril if lower else np.triu  # SciPy leaves the other triangle as it was
    _close(got_c, part(c), dtype)
    expected = sl.cho_solve((c, low), b)
    _close(trace(lambda m, v: tl.cho_solve(tl.cho_factor(m, lower=lower), v))(s, b), expected,
           dtype)  # fmt: skip
    # a factor straight from SciPy, junk in its other triangle and all
    _close(trace(lambda m, v: tl.cho_solve((m, lower), v))(c, b), expected, dtype)


@pytest.mark.parametrize("scale", [1e-4, 0.01, 0.2, 0.9, 1.8, 4.0, 30.0])
def test_expm_equals_scipy_across_pade_degrees_and_squarings(scale):
    a = make_array((4, 4), "float64", seed=3) * scale
    expected = sl.expm(a)
    np.testing.assert_allclose(trace(tl.expm)(a), expected, rtol=1e-11)
    np.testing.assert_allclose(compile(tl.expm)(a), expected, rtol=1e-11)


def test_expm_batches_keeps_float32_and_takes_integers():
    a = make_array((2, 3, 3, 3), "float32", seed=4)
    got = trace(tl.expm)(a)
    assert got.dtype == np.float32 and got.shape == a.shape
    np.testing.assert_allclose(got, sl.expm(a), rtol=1e-5, atol=1e-5)
    m = np.array([[0, 1], [-1, 0]])
    _close(trace(tl.expm)(m), sl.expm(m), "float64")
    assert "expm" in {d["op"] for d in trace(tl.expm).trace(a).nodes.values()}


def test_expm_of_special_matrices():
    for a in (np.zeros((3, 3)), np.diag([1.0, -2.0, 0.5]), np.array([[0.0, 1.0], [0.0, 0.0]])):
        np.testing.assert_allclose(trace(tl.expm)(a), sl.expm(a), rtol=1e-13, atol=1e-15)
