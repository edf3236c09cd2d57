"""The transformations users call: grad, value_and_grad, vjp, jvp, jacobian, hessian.

Conventions follow JAX (argnums, pytrees, has_aux, Jacobian block shapes); the
numbers are the DeZero book's where it has them.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from numpy.polynomial import Polynomial

from compiler import check_grad, grad, hessian, jacobian, jvp, value_and_grad, vjp
from tracer import Graph, TracedFunction, trace, validate

pytestmark = pytest.mark.usefixtures("validated_graphs")

# ----- grad -----


def test_grad_of_plain_and_traced_functions():
    def f(x):
        return np.square(np.exp(np.square(x)))

    assert grad(f)(0.5) == pytest.approx(3.297442541400256, rel=1e-15)
    assert grad(trace(f))(0.5) == pytest.approx(3.297442541400256, rel=1e-15)
    df = grad(f)
    assert isinstance(df, TracedFunction)
    assert df.name == "grad_f"
    g = df.trace(0.5)
    assert isinstance(g, Graph)
    validate(g)
    assert g.graph["name"] == "grad_f"


def test_grad_returns_input_shape_and_caches_per_signature():
    df = grad(lambda x: np.sum(np.sin(x)))
    x = np.linspace(0, 1, 4)
    np.testing.assert_allclose(df(x), np.cos(x))
    np.testing.assert_allclose(df(x + 1.0), np.cos(x + 1.0))
    assert df.trace_count == 1
    np.testing.assert_allclose(df(np.ones((2, 2))), np.cos(np.ones((2, 2))))
    assert df.trace_count == 2
    assert np.shape(df(0.25)) == () and df(0.25) == pytest.approx(np.cos(0.25))


@pytest.mark.parametrize("argnums, expected", [(0, 9.0), (1, 12.0), (-1, 12.0), (-2, 9.0)])
def test_argnums_int(argnums, expected):
    f = lambda x, y: x * y**2
    assert grad(f, argnums=argnums)(2.0, 3.0) == expected


def test_argnums_tuple_gives_a_tuple():
    f = lambda x, y, z: np.sum(x * y) + z
    x, y = np.arange(3.0), np.ones(3)
    gx, gz = grad(f, argnums=(0, 2))(x, y, 5.0)
    np.testing.assert_array_equal(gx, y)
    assert gz == 1.0
    (gy,) = grad(f, argnums=(1,))(x, y, 5.0)
    np.testing.assert_array_equal(gy, x)


def test_pytree_arguments_give_pytree_gradients():
    def f(params, x):
        w, (b, c) = params["w"], params["bc"]
        return np.sum((x @ w + b) ** 2) + c[0] * 3.0 + c[1]

    params = {"w": np.ones((2, 3)), "bc": (np.zeros(3), [2.0, 1.0])}
    x = np.array([1.0, -1.0])
    g = grad(f)(params, x)
    assert isinstance(g, dict) and sorted(g) == ["bc", "w"]
    assert isinstance(g["bc"], tuple) and isinstance(g["bc"][1], list)
    np.testing.assert_array_equal(g["w"], np.zeros((2, 3)))  # x @ w + b = 0
    np.testing.assert_array_equal(g["bc"][0], np.zeros(3))
    assert g["bc"][1] == [3.0, 1.0]
    gp, gx = grad(f, argnums=(0, 1))(params, x)
    assert sorted(gp) == ["bc", "w"] and gx.shape == (2,)


def test_has_aux():
    def f(x):
        y = np.sum(x**2)
        return y, {"y": y, "double": 2 * x}

    x = np.array([1.0, 2.0])
    g, aux = grad(f, has_aux=True)(x)
    np.testing.assert_array_equal(g, 2 * x)
    assert aux["y"] == 5.0
    np.testing.assert_array_equal(aux["double"], [2.0, 4.0])
    (value, aux2), g2 = value_and_grad(f, has_aux=True)(x)
    assert value == 5.0 and aux2["y"] == 5.0
    np.testing.assert_array_equal(g2, 2 * x)


def test_value_and_grad():
    f = lambda x, y: np.sum(np.exp(x) * y)
    x, y = np.array([0.0, 1.0]), np.array([2.0, 3.0])
    value, g = value_and_grad(f)(x, y)
    assert value == pytest.approx(2 + 3 * np.e)
    np.testing.assert_allclose(g, np.exp(x) * y)
    value, (gx, gy) = value_and_grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gy, np.exp(x))
    validate(value_and_grad(f).trace(x, y))


def test_static_argnums_pass_through():
    @trace(static_argnums=1)
    def f(x, power):
        return np.sum(x**power)

    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(grad(f)(x, 3), 3 * x**2)
    np.testing.assert_array_equal(grad(f)(x, 2), 2 * x)


def test_keyword_arguments_are_not_differentiated():
    f = lambda x, y=1.0: x * y
    assert grad(f)(2.0, y=3.0) == 3.0
    assert grad(f)(2.0) == 1.0


def test_functions_independent_of_the_argument():
    assert grad(lambda x: 3.0)(1.0) == 0.0
    assert grad(lambda x: x)(1.0) == 1.0
    assert value_and_grad(lambda x: x)(2.0) == (2.0, 1.0)
    g = grad(lambda x, y: np.sum(y), argnums=0)(np.ones(2, np.float32), np.ones(2))
    assert g.dtype == np.float32 and g.tolist() == [0.0, 0.0]


# ----- vjp and jvp -----


def test_vjp_and_jvp_with_static_arguments():
    f = trace(lambda x, n: np.sum(x**n), static_argnums=1)
    x = np.array([1.0, 2.0])
    out, vjp_fn = vjp(f, x, 3)
    assert out == 9.0
    gx, gn = vjp_fn(1.0)
    np.testing.assert_array_equal(gx, 3 * x**2)
    assert gn is None
    assert vjp(f, x, 2)[1](1.0)[0].tolist() == [2.0, 4.0]  # another static value
    out, t = jvp(f, (x, 3), (np.array([1.0, 0.0]), None))
    assert (out, t) == (9.0, 3.0)


def test_vjp_of_a_non_scalar_function():
    f = lambda x, y: np.sin(x) * y
    x, y = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])
    out, vjp_fn = vjp(f, x, y)
    np.testing.assert_allclose(out, np.sin(x) * y)
    u = np.array([1.0, -1.0, 0.5])
    gx, gy = vjp_fn(u)
    np.testing.assert_allclose(gx, u * np.cos(x) * y)
    np.testing.assert_allclose(gy, u * np.sin(x))
    gx2, _ = vjp_fn(np.ones(3))  # reusable
    np.testing.assert_allclose(gx2, np.cos(x) * y)


def test_vjp_pytrees():
    f = lambda p: {"a": p[0] * 2.0, "b": np.sum(p[1])}
    p = (np.ones(2), np.ones((2, 2)))
    out, vjp_fn = vjp(f, p)
    assert sorted(out) == ["a", "b"]
    (g,) = vjp_fn({"a": np.array([1.0, 2.0]), "b": 3.0})
    np.testing.assert_array_equal(g[0], [2.0, 4.0])
    np.testing.assert_array_equal(g[1], np.full((2, 2), 3.0))


def test_jvp():
    f = lambda x, y: np.sum(x**2) * y
    x = np.array([1.0, 2.0])
    out, t = jvp(f, (x, 3.0), (np.array([1.0, 0.0]), 0.0))
    assert out == 15.0 and t == 6.0
    out, t = jvp(f, (x, 3.0), (np.zeros(2), 1.0))
    assert t == 5.0
    out, t = jvp(np.sin, (np.array([0.0, 1.0]),), (np.array([1.0, 2.0]),))
    np.testing.assert_allclose(t, [1.0, 2 * np.cos(1.0)])


def test_jvp_pytrees_and_tuple_outputs():
    f = lambda p: (p["x"] * p["y"], np.sum(p["x"]))
    p = {"x": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0])}
    tp = {"x": np.array([1.0, 1.0]), "y": np.array([0.0, 1.0])}
    (o1, o2), (t1, t2) = jvp(f, (p,), (tp,))
    np.testing.assert_array_equal(o1, [3.0, 8.0])
    np.testing.assert_array_equal(t1, [3.0, 4.0 + 2.0])
    assert o2 == 3.0 and t2 == 2.0


# ----- jacobian and hessian -----


def _jac_fn(x, y):
    return np.sin(x)[:, None] * y + np.sum(x * x)


@pytest.mark.parametrize("mode", [None, "rev", "fwd"])
def test_jacobian_shapes_and_values(mode):
    x, y = np.array([0.1, 0.5, 1.0]), np.array([1.0, 2.0])
    jx, jy = jacobian(_jac_fn, argnums=(0, 1), mode=mode)(x, y)
    assert jx.shape == (3, 2, 3) and jy.shape == (3, 2, 2)
    ex = np.einsum("ij,j->ij", np.eye(3), np.cos(x))[:, None, :] * y[None, :, None]
    ex = ex + 2 * x[None, None, :]
    np.testing.assert_allclose(jx, ex)
    ey = np.sin(x)[:, None, None] * np.eye(2)[None]
    np.testing.assert_allclose(jy, ey)


def test_jacobian_rev_and_fwd_agree():
    def f(a, b):
        return {"u": np.tanh(a @ b), "v": np.sum(a**2, axis=0)}

    a, b = np.random.default_rng(0).standard_normal((2, 3)), np.ones((3, 4)) * 0.3
    rev = jacobian(f, argnums=(0, 1), mode="rev")(a, b)
    fwd = jacobian(f, argnums=(0, 1), mode="fwd")(a, b)
    for k, shape in [("u", (2, 4)), ("v", (3,))]:
        for i, arg in enumerate((a, b)):
            assert rev[k][i].shape == shape + arg.shape
            np.testing.assert_allclose(rev[k][i], fwd[k][i], rtol=1e-12, atol=1e-12)
    assert jacobian(f, argnums=(0, 1), mode="rev").trace(a, b).graph["jacobian_mode"] == "rev"


def test_jacobian_picks_the_cheaper_mode():
    wide = jacobian(lambda x: np.sum(x)).trace(np.ones(5))  # 1 output, 5 inputs
    tall = jacobian(lambda x: x * np.ones(5)).trace(1.0)  # 5 outputs, 1 input
    assert wide.graph["jacobian_mode"] == "rev"
    assert tall.graph["jacobian_mode"] == "fwd"
    np.testing.assert_array_equal(jacobian(lambda x: x * np.ones(5))(1.0), np.ones(5))


def test_hessian_closed_forms():
    a = np.array([[2.0, 1.0], [0.0, 3.0]])
    quad = lambda x: x @ a @ x
    np.testing.assert_allclose(hessian(quad)(np.array([0.3, -1.0])), a + a.T)

    def f(x):  # x0^3 x1 + sin(x1)
        return x[0] ** 3 * x[1] + np.sin(x[1])

    x = np.array([1.5, 0.5])
    expected = [[6 * x[0] * x[1], 3 * x[0] ** 2], [3 * x[0] ** 2, -np.sin(x[1])]]
    np.testing.assert_allclose(hessian(f)(x), expected)
    assert hessian(lambda s: s**4)(2.0) == pytest.approx(48.0)


def test_hessian_with_several_arguments_is_nested():
    h = hessian(lambda x, y: x**2 * y**3, argnums=(0, 1))(1.0, 2.0)
    # ((d2/dx2, d2/dxdy), (d2/dydx, d2/dy2)) = ((2 y^3, 6 x y^2), (6 x y^2, 6 x^2 y))
    assert h == ((16.0, 24.0), (24.0, 12.0))


def test_jacobian_dtypes_and_integer_outputs():
    x32 = np.ones(2, np.float32)
    for mode in ("rev", "fwd"):
        j = jacobian(lambda x: x * 2, mode=mode)(x32)
        assert j.dtype == np.float32 and j.tolist() == [[2.0, 0.0], [0.0, 2.0]]
    assert hessian(lambda x: np.sum(x**3))(x32).dtype == np.float32
    np.testing.assert_array_equal(jacobian(lambda x: np.argmax(x))(np.ones(3)), np.zeros(3))
    assert jacobian(lambda x: x**2)(3.0) == 6.0


def test_hessian_of_rosenbrock():
    def rosen(x):
        return 100 * (x[1] - x[0] ** 2) ** 2 + (x[0] - 1) ** 2

    x0, x1 = 0.3, 0.8
    expected = [[1200 * x0**2 - 400 * x1 + 2, -400 * x0], [-400 * x0, 200]]
    np.testing.assert_allclose(hessian(rosen)(np.array([x0, x1])), expected)


# ----- composition -----


def test_grad_of_grad_of_grad():
    f = lambda x: x**5 + np.sin(x)
    assert grad(grad(grad(f)))(0.7) == pytest.approx(60 * 0.7**2 - np.cos(0.7))
    third = grad(grad(grad(np.tanh)))(1.0)
    t = np.tanh(1.0)
    assert third == pytest.approx(-2 * (1 - t**2) * (1 - 3 * t**2))
    validate(grad(grad(grad(f))).trace(0.7))


def test_jacobian_of_grad_is_the_hessian():
    f = lambda x: np.sum(np.exp(x) * x[::-1])
    x = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(jacobian(grad(f))(x), hessian(f)(x))
    np.testing.assert_allclose(
        jacobian(grad(f), mode="rev")(x), jacobian(grad(f), mode="fwd")(x), atol=1e-14
    )


def test_traced_function_calling_grad_inside():
    f = lambda x: np.sum(np.sin(x) * x)

    @trace
    def h(x):
        return np.sum(grad(f)(x) ** 2) + np.sum(x)

    x = np.array([0.2, 1.3])
    d = np.sin(x) + x * np.cos(x)
    assert h(x) == pytest.approx(np.sum(d**2) + np.sum(x))
    graph = h.trace(x)
    validate(graph)
    assert "cos" in {d["op"] for d in graph.nodes.values()}
    dd = 2 * np.cos(x) - x * np.sin(x)
    np.testing.assert_allclose(grad(h)(x), 2 * d * dd + 1)
    check_grad(h, x, order=2)


def test_vjp_and_jvp_of_grad():
    f = lambda x: np.sum(x**3)
    x = np.array([1.0, 2.0])
    _, t = jvp(grad(f), (x,), (np.array([1.0, 0.0]),))
    np.testing.assert_allclose(t, [6.0, 0.0])
    _, vjp_fn = vjp(grad(f), x)
    np.testing.assert_allclose(vjp_fn(np.array([0.0, 1.0]))[0], [0.0, 12.0])


def test_vjp_and_jvp_inside_a_traced_function():
    x = np.array([0.1, 0.2, 0.3])

    def via_vjp(a):
        out, vjp_fn = vjp(np.sin, a)
        return np.sum(vjp_fn(np.ones(3))[0] * out)  # sum(cos a * sin a)

    def via_jvp(a):
        out, t = jvp(np.sin, (a,), (np.ones(3),))
        return np.sum(t * out)

    expected = np.cos(2 * x)  # d/da sin(a) cos(a) = cos(2a)
    np.testing.assert_allclose(grad(via_vjp)(x), expected)
    np.testing.assert_allclose(grad(via_jvp)(x), expected)
    # forward over reverse: a Hessian-vector product
    hvp = lambda a, v: jvp(grad(lambda z: np.sum(z**3)), (a,), (v,))[1]
    np.testing.assert_allclose(trace(hvp)(np.array([1.0, 2.0]), np.ones(2)), [6.0, 12.0])
    np.testing.assert_allclose(jacobian(lambda a: hvp(a, np.ones(2)))(x[:2]), np.diag([6.0, 6.0]))


def _tanh_derivative_polys(n_max):
    """p_n with d^n/dx^n tanh(x) = p_n(tanh x): p_0 = t, p_{n+1} = p_n' (1 - t^2)."""
    p, one_minus_t2 = Polynomial([0.0, 1.0]), Polynomial([1.0, 0.0, -1.0])
    polys = []
    for _ in range(n_max):
        p = p.deriv() * one_minus_t2
        polys.append(p)
    return polys


def test_tanh_derivative_polynomials_are_right():
    p1, p2, p3 = _tanh_derivative_polys(3)
    assert np.allclose(p1.coef, [1, 0, -1])  # 1 - t^2
    assert np.allclose(p2.coef, [0, -2, 0, 2])  # -2t + 2t^3
    assert np.allclose(p3.coef, [-2, 0, 8, 0, -6])


@pytest.mark.parametrize("n", range(1, 7))
def test_nth_derivative_of_tanh(n):
    f = np.tanh
    for _ in range(n):
        f = grad(f)
    expected = _tanh_derivative_polys(n)[-1](np.tanh(1.0))
    assert f(1.0) == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ----- the DeZero book's numbers -----


def test_book_square_exp_square():
    f = lambda x: np.square(np.exp(np.square(x)))
    assert grad(f)(0.5) == pytest.approx(3.297442541400256, rel=1e-15)
    check_grad(f, 0.5, order=2)


def goldstein(x, y):
    return (1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)) * (
        30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    )


def rosenbrock(x0, x1):
    return 100 * (x1 - x0**2) ** 2 + (x0 - 1) ** 2


def test_book_goldstein():
    assert grad(goldstein, argnums=(0, 1))(1.0, 1.0) == (-5376.0, 8064.0)


def test_book_rosenbrock():
    assert grad(rosenbrock, argnums=(0, 1))(0.0, 2.0) == (-2.0, 400.0)


def test_book_rosenbrock_gradient_descent():
    # the book's step 28: gradient descent from (0, 2), lr 0.001, approaches the minimum (1, 1)
    df = grad(rosenbrock, argnums=(0, 1))
    x0, x1 = 0.0, 2.0
    r0, r1 = 0.0, 2.0  # the same descent with the hand-derived gradient
    for _ in range(10000):
        g0, g1 = df(x0, x1)
        x0, x1 = x0 - 0.001 * g0, x1 - 0.001 * g1
        h0, h1 = -400 * r0 * (r1 - r0**2) + 2 * (r0 - 1), 200 * (r1 - r0**2)
        r0, r1 = r0 - 0.001 * h0, r1 - 0.001 * h1
    assert (x0, x1) == pytest.approx((r0, r1), rel=1e-12)
    assert (x0, x1) == pytest.approx((1.0, 1.0), abs=0.02)


def test_book_double_backprop():
    # y = x^2, z = (dy/dx)^3 + y; dz/dx = 24 x^2 + 2 x = 100 at x = 2
    def z(x):
        gx = grad(lambda t: t**2)(x)
        return gx**3 + x**2

    assert z(2.0) == 68.0
    assert grad(z)(2.0) == 100.0


def test_book_newton_method():
    f = lambda x: x**4 - 2 * x**2
    df, d2f = grad(f), grad(grad(f))
    x = 2.0
    path = [x]
    for _ in range(10):
        x = x - df(x) / d2f(x)
        path.append(float(x))
    np.testing.assert_allclose(
        path[:5], [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978,
                   1.0009084519430513], rtol=1e-14)  # fmt: skip
    assert x == pytest.approx(1.0, abs=1e-15)


# ----- an MLP with dict parameters -----


def init_mlp(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return {
        f"W{i}": rng.standard_normal((m, n)) / np.sqrt(m) for i, (m, n) in
        enumerate(zip(sizes[:-1], sizes[1:]))
    } | {f"b{i}": np.full(n, 0.01 * (i + 1)) for i, n in enumerate(sizes[1:])}  # fmt: skip


def mlp_loss(params, x, t):
    """Softmax cross-entropy of a 2-layer sigmoid MLP (the book's MLP)."""
    h = 1 / (1 + np.exp(-(x @ params["W0"] + params["b0"])))
    logits = h @ params["W1"] + params["b1"]
    m = np.max(logits, axis=1, keepdims=True)
    log_z = m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    log_p = logits - log_z
    return -np.mean(log_p[np.arange(len(t)), t])


def test_mlp_loss_with_dict_parameters():
    params = init_mlp([2, 5, 3])
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((6, 2)), np.array([0, 1, 2, 2, 1, 0])
    loss, grads = value_and_grad(mlp_loss)(params, x, t)
    assert loss == pytest.approx(mlp_loss(params, x, t), rel=1e-14)
    assert sorted(grads) == sorted(params)
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == np.float64
    check_grad(mlp_loss, params, x, t, argnums=0)
    check_grad(mlp_loss, params, x, t, argnums=(0, 1), order=2)


def test_sgd_on_the_mlp_reduces_the_loss():
    params = init_mlp([2, 8, 2])
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 2))
    t = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    step = value_and_grad(mlp_loss)
    first = None
    for _ in range(200):
        loss, g = step(params, x, t)
        first = loss if first is None else first
        params = {k: params[k] - 1.0 * g[k] for k in params}
    assert step.trace_count == 1
    assert loss < 0.8 * first
