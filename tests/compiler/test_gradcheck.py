"""check_grad and numerical_grad: central differences over arrays and pytrees."""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import GradientCheckError, check_grad, numerical_grad
from compiler.gradcheck import GradCheckResult
from tracer import TracegradError

pytestmark = pytest.mark.usefixtures("validated_graphs")

# ----- numerical_grad -----


def test_numerical_grad_is_the_books_numerical_diff_on_scalars():
    f = lambda x: np.square(np.exp(np.square(x)))
    assert numerical_grad(f, 0.5) == pytest.approx(3.297442541400256, rel=1e-9)
    # the book's numerical_diff(square, 2.0) with eps=1e-4 gives 4.000000000004
    assert numerical_grad(np.square, 2.0, eps=1e-4) == pytest.approx(4.0, abs=1e-10)


def test_numerical_grad_of_arrays():
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    g = numerical_grad(lambda a: np.sum(np.sin(a) * a), x)
    assert g.shape == (2, 2) and g.dtype == np.float64
    np.testing.assert_allclose(g, np.sin(x) + x * np.cos(x), rtol=1e-8)


def test_numerical_grad_argnums_and_pytrees():
    def f(p, y, scale):
        return scale * (np.sum(p["w"] ** 2) + p["b"][0] * y)

    p = {"w": np.array([1.0, 2.0]), "b": (3.0,)}
    gp, gy = numerical_grad(f, p, 4.0, 0.5, argnums=(0, 1))
    assert sorted(gp) == ["b", "w"] and isinstance(gp["b"], tuple)
    np.testing.assert_allclose(gp["w"], [1.0, 2.0], rtol=1e-8)
    np.testing.assert_allclose(gp["b"][0], 2.0, rtol=1e-8)
    assert gy == pytest.approx(1.5, rel=1e-8)
    assert numerical_grad(f, p, 4.0, 0.5, argnums=2) == pytest.approx(5.0 + 12.0, rel=1e-8)


def test_numerical_grad_works_in_float64_and_does_not_mutate():
    x = np.array([1.0, 2.0], dtype=np.float32)
    before = x.copy()
    g = numerical_grad(lambda a: np.sum(a.astype(np.float64) ** 3), x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * before.astype(np.float64) ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_numerical_grad_needs_a_scalar():
    with pytest.raises(TracegradError, match=r"expected a scalar output, got shape \(2,\)"):
        numerical_grad(lambda a: a * 2, np.ones(2))


# ----- check_grad -----


def test_check_grad_passes_and_returns_the_worst_entry():
    x = np.array([0.1, -0.7, 1.3])
    res = check_grad(lambda a: np.sum(np.tanh(a) ** 2), x)
    assert isinstance(res, GradCheckResult) and res
    assert res.where.startswith("args[0][")
    assert res.max_abs_err < 1e-8
    t = np.tanh(x)
    assert any(res.analytic == pytest.approx(v, rel=1e-12) for v in 2 * t * (1 - t**2))


def test_check_grad_default_argnums_are_the_float_arguments():
    f = lambda x, idx, y: np.sum(x[idx] * y)
    res = check_grad(f, np.arange(3.0), np.array([0, 2, 2]), np.array([1.0, 2.0, 3.0]))
    assert res.where.startswith(("args[0]", "args[2]"))


def test_check_grad_non_scalar_output_is_projected():
    check_grad(lambda a: np.outer(np.sin(a), a), np.array([0.2, 0.4, 0.6]))
    check_grad(lambda a, b: (a * b, np.exp(a)), np.array([0.1, 0.2]), 3.0)


def test_check_grad_to_second_and_third_order():
    f = lambda x, y: np.sum(np.exp(x) * y**3)
    x, y = np.array([0.1, 0.5]), np.array([1.0, -1.2])
    check_grad(f, x, y, order=2)
    check_grad(f, x, y, order=3, eps=1e-4, rtol=1e-4, atol=1e-5)


def test_check_grad_tolerances():
    # x * |x| has a continuous derivative 2|x|; with a huge eps the differences are off near 0
    f = lambda a: np.sum(a * np.abs(a))
    x = np.array([0.05, 1.0])
    check_grad(f, x)
    with pytest.raises(GradientCheckError, match=r"args\[0\]\[0\]"):
        check_grad(f, x, eps=0.5)
    check_grad(f, x, eps=0.5, atol=0.5)


def test_check_grad_of_a_pytree_argument():
    def loss(p, x):
        return np.sum(np.tanh(x @ p["w"] + p["b"]) ** 2)

    p = {"w": np.random.default_rng(0).standard_normal((3, 2)), "b": np.array([0.1, -0.1])}
    x = np.random.default_rng(1).standard_normal((4, 3))
    res = check_grad(loss, p, x, argnums=0, order=2)
    assert res.where.startswith(("args[0]['b']", "args[0]['w']"))


def test_check_grad_failure_is_an_assertion_error():
    with pytest.raises(AssertionError, match="gradient mismatch at args"):
        check_grad(lambda a: np.sum(np.ceil(a)), np.array([0.0, 1.0]))


def test_check_grad_nan_mismatch_is_reported():
    # sqrt'(0) is inf analytically; the one-sided nan of numerical differences disagrees
    with np.errstate(all="ignore"), pytest.raises(GradientCheckError, match=r"args\[0\]\[0\]"):
        check_grad(lambda a: np.sum(np.sqrt(a)), np.array([0.0, 1.0]))
