"""Integer and boolean operands of floating-point math: each local derivative is computed in
the floating dtype of the value it differentiates (``x / k`` with an integer ``k`` has
d/dx = 1/k, not the integer reciprocal 0).

Written as users write programs: masks as divisors, ``np.arange`` denominators, NumPy
integer scalars, ``bool + 1``; every transformation (grad, jvp, vjp, jacobian in both
modes, hessian, grad of grad), against closed forms and central differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import check_grad, grad, hessian, jacobian, jvp, numerical_grad, vjp

pytestmark = pytest.mark.usefixtures("validated_graphs")


def close(got, want, tol=1e-9):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=tol, atol=tol)


K = np.array([1, 2, 3, 4])


def test_issue_reproductions():
    close(grad(lambda x, k: np.sum(x / k))(np.ones(4), K), 1.0 / K)
    m = np.array([True, False, True])
    f = lambda x, m: np.sum(np.where(m, x**2, 0.0)) / np.sum(m)  # noqa: E731
    close(grad(f)(np.array([1.0, 2.0, 3.0]), m), [1.0, 0.0, 3.0])
    close(grad(lambda x: np.sum(x / np.arange(1, 4)))(np.ones(3)), [1.0, 1 / 2, 1 / 3])


@pytest.mark.parametrize(
    "divisor, value",
    [
        (np.int64(2), 0.5),
        (np.int32(4), 0.25),
        (np.array(True) + 1, 0.5),
        (np.array([3], dtype=np.int8), 1 / 3),
        (np.uint16(5), 0.2),
        (np.array(True), 1.0),
    ],
    ids=["int64-scalar", "int32-scalar", "bool-plus-1", "int8-array", "uint16", "bool"],
)
def test_integer_and_boolean_divisors(divisor, value):
    f = lambda x: np.sum(x / divisor)  # noqa: E731
    close(grad(f)(np.ones(3)), np.full(3, value))
    close(jvp(lambda x: x / divisor, (np.ones(3),), (np.ones(3),))[1], np.full(3, value))
    _, back = vjp(lambda x: x / divisor, np.ones(3))
    close(back(np.ones(3))[0], np.full(3, value))


def test_every_transformation_reads_integer_divisors_as_floats():
    k = np.arange(1, 4)
    f = lambda x: x**2 / k  # noqa: E731
    x = np.array([1.0, -2.0, 0.5])
    want = np.diag(2 * x / k)
    close(jacobian(f, mode="rev")(x), want)
    close(jacobian(f, mode="fwd")(x), want)
    s = lambda x: np.sum(x**3 / k)  # noqa: E731
    close(hessian(s)(x), np.diag(6 * x / k))
    close(grad(lambda x: np.sum(grad(s)(x)))(x), 6 * x / k)
    close(grad(grad(lambda t: t**3 / np.int64(3)))(2.0), 4.0)


def test_divisor_as_the_differentiated_operand_over_integer_numerator():
    # d/dx (k / x) = -k / x**2 with an integer numerator
    close(grad(lambda x: np.sum(K / x))(np.ones(4) * 2.0), -K / 4.0)


# The audit beyond div: every binary rule with an integer or boolean operand. Each case is a
# scalar function of a float64 array x; gradients are checked against central differences.
INT = np.array([2, -1, 3])
MASK = np.array([True, False, True])
CASES = {
    "mul-int-array": lambda x: np.sum(x * INT),
    "mul-bool": lambda x: np.sum(x * MASK),
    "pow-int-exponent-array": lambda x: np.sum(x ** np.array([1, 2, 3])),
    "pow-int-base": lambda x: np.sum(np.array([2, 3, 4]) ** x),
    "pow-negative-base-int-exponent": lambda x: np.sum((x - 2.0) ** np.array([2, 3, 2])),
    "where-int-branch": lambda x: np.sum(np.where(MASK, x**2, INT)),
    "where-int-other-branch": lambda x: np.sum(np.where(MASK, INT, np.sin(x))),
    "maximum-int": lambda x: np.sum(np.maximum(x, INT)),
    "minimum-int": lambda x: np.sum(np.minimum(INT, x * 3.0)),
    "matmul-float-by-int": lambda x: np.sum(x @ np.array([[1, 2], [3, 4], [5, 6]])),
    "matmul-int-by-float": lambda x: np.sum(np.array([[1, 2, 3]]) @ np.sin(x)),
    "clip-int-bounds": lambda x: np.sum(np.clip(x * 4.0, np.array([0, -3, 1]), 2) ** 2),
    "clip-int-scalars": lambda x: np.sum(np.clip(x * 4.0, -1, 2) ** 2),
    "mean-over-ints": lambda x: np.sum(x * np.mean(INT)) + np.mean(MASK) * np.sum(x),
    "count-as-divisor": lambda x: np.sum(x) / np.sum(MASK),
    "astype-int-in-float-math": lambda x: np.sum(x * INT.astype(np.float32)),
    "int-minus-float": lambda x: np.sum(INT - x**2),
    "bool-plus-float": lambda x: np.sum((MASK + x) ** 2),
    "div-int-by-int-then-float": lambda x: np.sum(x * (INT / np.array([4, 2, 2]))),
    "python-int-divisor": lambda x: np.sum(x / 3),
    "comparison-mask-times": lambda x: np.sum((x > 0.1) * x**2),
    "sum-of-int-power": lambda x: np.sum(x) ** np.int64(2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_integer_operands_against_central_differences(name):
    f = CASES[name]
    x = np.array([0.3, 0.7, 1.3])
    close(grad(f)(x), numerical_grad(f, x), tol=1e-6)
    check_grad(f, x, order=2)


def test_float32_stays_float32_with_integer_divisor():
    x = np.ones(3, dtype=np.float32)
    g = grad(lambda x: np.sum(x / np.arange(1, 4, dtype=np.int32)))(x)
    # float32 / int32 promotes to float64 in NumPy; the gradient has the input's dtype
    assert g.dtype == np.float32
    close(g, [1.0, 0.5, 1 / 3], tol=1e-6)
