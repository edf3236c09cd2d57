"""jacfwd and jacrev (jacobian with its mode fixed) and linearize (the tangent map, with the
forward pass evaluated once), against jacobian and jvp."""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import grad, jacfwd, jacobian, jacrev, jvp, linearize
from tracer import TracegradError, trace, tree_leaves

pytestmark = pytest.mark.usefixtures("validated_graphs")


def f(x, y):
    return {"u": np.sin(x) * y[:, 0], "v": x @ y}


X, Y = np.array([0.3, -1.2, 2.0]), np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.1]])


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_jacfwd_and_jacrev_are_jacobian(argnums):
    want = tree_leaves(jacobian(f, argnums)(X, Y))
    for alias, mode in ((jacfwd, "fwd"), (jacrev, "rev")):
        assert alias(f, argnums).trace(X, Y).graph["jacobian_mode"] == mode
        got = tree_leaves(alias(f, argnums)(X, Y))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_jacfwd_of_jacrev_is_the_hessian():
    h = lambda x: np.sum(np.sin(x) * x**2)  # noqa: E731
    np.testing.assert_allclose(jacfwd(jacrev(h))(X), jacrev(jacfwd(h))(X), rtol=1e-12)


def test_linearize_is_jvp():
    out, f_jvp = linearize(f, X, Y)
    np.testing.assert_array_equal(out["u"], f(X, Y)["u"])
    rng = np.random.default_rng(0)
    for _ in range(3):
        tx, ty = rng.standard_normal(3), rng.standard_normal((3, 2))
        got, want = f_jvp(tx, ty), jvp(f, (X, Y), (tx, ty))[1]
        np.testing.assert_allclose(got["u"], want["u"], rtol=1e-14)
        np.testing.assert_allclose(got["v"], want["v"], rtol=1e-14)


def test_linearize_evaluates_the_forward_pass_once():
    calls = []

    def g(x):
        calls.append(1)  # runs while tracing only
        return np.exp(np.sin(x)) * x

    _, g_jvp = linearize(g, X)
    n = len(calls)
    for t in (np.ones(3), np.zeros(3), X):
        np.testing.assert_allclose(g_jvp(t), jvp(g, (X,), (t,))[1], rtol=1e-14)
    assert len(calls) <= n + 1  # jvp above traced once more; g_jvp never does


def test_linearize_keeps_only_the_linear_part():
    import compiler.linearization as lin

    g = lin._JvpFunction(lambda x: np.exp(np.sin(x)) * x).trace((X,), (lin._spec(X),))
    _, linear, residuals = lin._split(g, 1)
    ops = sorted(d["op"] for _, d in linear.nodes(data=True) if d["op"] != "input")
    assert "exp" not in ops and "sin" not in ops  # the forward values are residual inputs
    assert linear.graph["inputs"] == residuals + [g.graph["inputs"][1]]


def test_linearize_with_static_arguments_and_numbers():
    @trace(static_argnums=1)
    def power(x, n):
        return x**n

    y, p_jvp = linearize(power, 2.0, 3)
    assert y == 8.0 and p_jvp(1.0, None) == pytest.approx(12.0)
    y, s_jvp = linearize(np.sin, 0.0)
    assert (y, s_jvp(2.0)) == (0.0, 2.0)


def test_linearize_inside_a_trace():
    # d/dx of (the tangent of sin at x along 1) is -sin(x)
    assert grad(lambda x: linearize(np.sin, x)[1](1.0))(0.3) == pytest.approx(-np.sin(0.3))


def test_linearize_tangent_errors():
    _, f_jvp = linearize(f, X, Y)
    with pytest.raises(TypeError, match="takes 2 tangents"):
        f_jvp(np.ones(3))
    with pytest.raises(TracegradError, match="shape"):
        f_jvp(np.ones(2), np.ones((3, 2)))
