"""Transformations inside transformations whose inner function captures an outer traced value.

Gradient penalties, meta-learning inner steps and Hessian-vector products are written
with closures; the captured outer value becomes an input of the inner graph, bound to
the outer traced value when the inner graph is inlined. Checked against closed forms
to third order and against central differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import compile, grad, hessian, jacobian, jvp, numerical_grad, value_and_grad, vjp
from tracer import TracingError, trace

pytestmark = pytest.mark.usefixtures("validated_graphs")


def close(got, want, tol=1e-10):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_issue_reproductions():
    assert grad(lambda x: grad(lambda y: x * y)(1.0))(2.0) == 1.0  # JAX: 1.0

    def penalty(w):
        return np.sum(grad(lambda v: np.sum(np.tanh(v @ w)))(np.ones(3)) ** 2)

    w = np.eye(3) + 0.1 * np.arange(9.0).reshape(3, 3)
    close(grad(penalty)(w), numerical_grad(penalty, w), tol=1e-6)


def x_cos(x):
    # d/dy sin(x y) at y = 1 is x cos(x): the inner grad captures x
    return grad(lambda y: np.sin(x * y))(1.0)


@pytest.mark.parametrize("x", [0.3, 1.7, -2.2])
def test_third_order_through_a_capture(x):
    close(x_cos(x), x * np.cos(x))
    close(grad(x_cos)(x), np.cos(x) - x * np.sin(x))
    close(grad(grad(x_cos))(x), -2 * np.sin(x) - x * np.cos(x))
    close(grad(grad(grad(x_cos)))(x), -3 * np.cos(x) + x * np.sin(x))


def test_two_levels_of_capture():
    # f(a) = d/db d/dc (a b^2 c^3) at b = c = 1 = 6 a; each level captures the one above
    def f(a):
        return grad(lambda b: grad(lambda c: a * b**2 * c**3)(1.0))(1.0)

    close(f(2.0), 12.0)
    close(grad(f)(2.0), 6.0)


def test_vjp_jvp_jacobian_hessian_inside_grad():
    close(grad(lambda x: vjp(lambda y: x * y, 2.0)[1](1.0)[0])(3.0), 1.0)
    close(grad(lambda x: jvp(lambda y: x * np.sin(y), (0.5,), (1.0,))[1])(2.0), np.cos(0.5))
    # jacobian of y -> x y^2 at ones(2) is diag(2 x): its sum is 4 x
    close(grad(lambda x: np.sum(jacobian(lambda y: x * y**2)(np.ones(2))))(2.0), 4.0)
    # hessian of y -> x y^3 at 1 is 6 x
    close(grad(lambda x: hessian(lambda y: x * y**3)(1.0))(5.0), 6.0)


def test_gradient_penalty_value_and_grad():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))

    def loss(w):
        model = lambda x: np.tanh(x @ w)  # noqa: E731
        gx = grad(lambda x: np.sum(model(x)))(X)  # captures w
        return np.sum(model(X) ** 2) + 0.1 * np.sum(gx**2)

    w = rng.normal(size=3)
    v, g = value_and_grad(loss)(w)
    close(v, loss(w))
    close(g, numerical_grad(loss, w), tol=1e-6)


def test_meta_learning_inner_step():
    X = np.linspace(-1, 1, 6).reshape(3, 2)
    y = np.array([0.5, -0.2, 0.1])

    def inner_loss(w, data):
        return np.sum((data @ w - y) ** 2)

    def outer(w):
        step = grad(lambda v: inner_loss(v, X) * np.sum(w**2))(w)  # captures w as well
        return inner_loss(w - 0.1 * step, X)

    w = np.array([0.3, -0.4])
    close(grad(outer)(w), numerical_grad(outer, w), tol=1e-6)


def test_compiled_and_jacobian_of_nested_functions():
    f = compile(grad(x_cos))
    close(f(0.7), np.cos(0.7) - 0.7 * np.sin(0.7))
    close(jacobian(x_cos)(0.7), np.cos(0.7) - 0.7 * np.sin(0.7))


def test_inner_function_returning_the_captured_value():
    # d/dy of a constant (the captured x) is 0; the outer gradient through it is 0 too
    assert grad(lambda x: grad(lambda y: x + 0.0 * y)(1.0))(2.0) == 0.0
    close(grad(lambda x: jvp(lambda y: x, (1.0,), (1.0,))[0])(2.0), 1.0)


def test_graphs_with_captured_outer_values_are_not_reused():
    inner = grad(lambda y, x: y * x)
    outer = grad(lambda x: inner(1.0, x) * x)  # no capture: ordinary caching works
    close(outer(3.0), 6.0)
    close(outer(4.0), 8.0)
    counts = []

    def f(x):
        g = grad(lambda y: x * y**2)
        counts.append(g)
        return g(1.0)

    ff = trace(f)
    close(grad(ff)(2.0), 2.0)
    close(grad(ff)(5.0), 2.0)


def test_a_leaked_outer_value_names_the_variable():
    kept = []

    def f(x):
        kept.append(x)
        return x * 2.0

    grad(f)(1.0)
    leaked = kept[0]

    def g(y):
        return y * leaked

    with pytest.raises(TracingError, match="the captured variable 'leaked'"):
        grad(g)(1.0)
