"""``compile(T(f))`` compiles the transformed function: it must equal ``T(f)`` for every
transformation and composition, and ``.source()`` must show the transformed code."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import compile, grad, hessian, jacobian, jvp, value_and_grad, vjp


def f(x):
    return np.sum(np.sin(x) * x)


def g(x, y):
    return np.tanh(x * y) + x**2


X = np.array([0.3, -1.2, 0.8])
Y = np.array([1.5, 0.5, -0.25])

TRANSFORMED = {
    "grad": (grad(f), (X,)),
    "value_and_grad": (value_and_grad(f), (X,)),
    "grad-argnums": (grad(lambda x, y: np.sum(g(x, y)), argnums=(0, 1)), (X, Y)),
    "grad-has-aux": (grad(lambda x: (f(x), {"aux": x * 2}), has_aux=True), (X,)),
    "jacobian-rev": (jacobian(g, mode="rev"), (X, Y)),
    "jacobian-fwd": (jacobian(g, argnums=1, mode="fwd"), (X, Y)),
    "hessian": (hessian(f), (X,)),
    "grad-of-grad": (grad(lambda x: np.sum(grad(f)(x) ** 2)), (X,)),
    "jacobian-of-grad": (jacobian(grad(f)), (X,)),
    "grad-of-compiled": (grad(compile(f)), (X,)),
}


def _same(a, b):
    la, lb = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    assert len(la) == len(lb)
    for u, v in zip(la, lb):
        if isinstance(u, dict):
            assert u.keys() == v.keys()
            for k in u:
                np.testing.assert_array_equal(u[k], v[k])
        elif isinstance(u, tuple):
            _same(u, v)
        else:
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("name", sorted(TRANSFORMED))
def test_compile_of_a_transformed_function_computes_the_transformation(name):
    fn, args = TRANSFORMED[name]
    fast = compile(fn)
    _same(fast(*args), fn(*args))
    assert fast.trace(*args) is not None


def test_issue_reproductions():
    want = np.sin(X) + X * np.cos(X)
    np.testing.assert_allclose(compile(grad(f))(X), want, rtol=1e-12)
    value, gx = compile(value_and_grad(f))(X)
    assert value == pytest.approx(f(X))
    np.testing.assert_allclose(gx, want, rtol=1e-12)
    np.testing.assert_allclose(compile(jacobian(np.sin))(X), np.diag(np.cos(X)), rtol=1e-12)


def test_source_shows_the_transformed_code():
    src = compile(grad(f)).source(X)
    assert "def grad_f(x):" in src and "np.cos" in src and "return (grad_x,)" in src


def test_compile_of_vjp_and_jvp_functions():
    _, back = vjp(lambda x: np.sin(x) * 2.0, X)
    np.testing.assert_array_equal(compile(back)(np.ones(3))[0], back(np.ones(3))[0])
    tangent = lambda t: jvp(np.tanh, (X,), (t,))[1]  # noqa: E731
    np.testing.assert_allclose(compile(tangent)(Y), tangent(Y), rtol=1e-15)


def test_compile_keeps_static_argnums_of_the_transformed_function():
    from tracer import trace

    h = trace(lambda x, n: np.sum(x**n), static_argnums=1)
    fast = compile(grad(h))
    np.testing.assert_allclose(fast(X, 3), 3 * X**2)
    with pytest.raises(TypeError, match="static_argnums"):
        compile(grad(h), static_argnums=0)
