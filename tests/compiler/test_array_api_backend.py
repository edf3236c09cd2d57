"""The array-API back end (``compiler.backends.array_api_backend``): generated code calls
``x.__array_namespace__()``, so it runs on CuPy arrays and any array-API library.

Here it runs on ``array_api_strict`` arrays (an independent, deliberately strict
implementation of the standard, pinned to its 2023.12 version): gradients of logistic
regression and of a two-layer MLP equal the NumPy back end's; every primitive declaring
an ``array_api`` lowering computes what NumPy computes; the back end is chosen for such
arguments and says so in ``.source()``; a primitive without a lowering is refused by name.
``TestCuPy`` repeats the logistic-regression check on a GPU, where CuPy and one exist.
"""

from __future__ import annotations

import numpy as np
import pytest

xs = pytest.importorskip("array_api_strict")

from models_testing import RTOL, classification_data, logreg, mlp, mlp_params  # noqa: E402

from compiler import compile, grad, value_and_grad  # noqa: E402
from compiler.backends import is_array_api, select_backend  # noqa: E402
from compiler.backends.array_api_backend import covered  # noqa: E402
from tracer import TracegradError, UnsupportedError, checkpoint, stop_gradient  # noqa: E402


@pytest.fixture(autouse=True)
def standard_2023_12():
    """The standard's 2023.12 version: no Python scalars where it wants arrays."""
    with xs.ArrayAPIStrictFlags(api_version="2023.12"):
        yield


def to_numpy(a):
    return np.from_dlpack(a)


def data(dtype, n=200, d=6, seed=0):
    return classification_data(dtype, n, d, seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logistic_regression_gradient_equals_numpy(dtype):
    X, y = data(dtype)
    w = np.linspace(-1, 1, X.shape[1]).astype(dtype)
    vg = value_and_grad(logreg)
    value, g = vg(w, xs.asarray(X), xs.asarray(y))
    assert is_array_api(value) and is_array_api(g)  # the arrays' namespace, not NumPy
    want_value, want_g = vg(w, X, y)
    got_g = to_numpy(g)
    assert got_g.dtype == want_g.dtype == dtype and got_g.shape == w.shape
    np.testing.assert_allclose(to_numpy(value), want_value, rtol=RTOL[dtype])
    np.testing.assert_allclose(got_g, want_g, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)
    closed = X.T @ (1 / (1 + np.exp(-(X @ w))) - y) / len(y)  # the closed form
    np.testing.assert_allclose(got_g, closed, rtol=RTOL[dtype] * 10, atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_layer_mlp_gradient_equals_numpy(dtype):
    X, y = data(dtype)
    p = mlp_params(dtype)
    got = grad(mlp)(p, xs.asarray(X), xs.asarray(y))
    want = grad(mlp)(p, X, y)
    for k in p:
        assert is_array_api(got[k])
        g = to_numpy(got[k])
        assert g.shape == p[k].shape and g.dtype == dtype
        np.testing.assert_allclose(g, want[k], rtol=RTOL[dtype] * 10, atol=RTOL[dtype])


def test_checkpointed_mlp_gradient_equals_numpy():
    """checkpoint's recomputation barrier (``after``) and the gradient of ``out[:, 0]``
    (zeros written at a basic index) run through ``xp``."""

    def loss(p, X, y):
        h = checkpoint(lambda X, W, b: np.sin(np.tanh(X @ W + b)))(X, p["W1"], p["b1"])
        out = h @ p["W2"] + p["b2"]
        return np.mean((out[:, 0] - y) ** 2)

    X, y = data(np.float64, n=40)
    p = mlp_params(np.float64)
    g = compile(grad(loss), passes=())  # unoptimised: the barrier stays
    args = (p, xs.asarray(X), xs.asarray(y))
    src = g.source(*args)
    ops = {d["op"] for d in g.executable(*args).graph.node_attrs.values()}
    assert {"after", "scatter_add"} <= ops
    assert "xp.zeros((40, 1)" in src and "xp.sum(" in src
    got, want = g(*args), g(p, X, y)
    for k in p:
        np.testing.assert_allclose(to_numpy(got[k]), want[k], rtol=1e-12, atol=1e-15)


def test_parameters_on_the_device_too():
    """All arguments array-API arrays (the parameters moved to the device by the user)."""
    X, y = data(np.float64, n=50)
    w = np.linspace(-1, 1, X.shape[1])
    got = grad(logreg)(xs.asarray(w), xs.asarray(X), xs.asarray(y))
    np.testing.assert_allclose(to_numpy(got), grad(logreg)(w, X, y), rtol=1e-12)


def test_chosen_for_array_api_arguments_and_named_in_the_source():
    X, y = data(np.float64, n=20)
    w = np.ones(X.shape[1])
    Xs, ys = xs.asarray(X), xs.asarray(y)
    assert select_backend(None, [w, Xs]).name == "array_api"
    assert select_backend(None, [w, X]).name == "numpy"  # a NumPy array is not one
    assert not is_array_api(X) and not is_array_api(np.float64(1)) and is_array_api(Xs)
    g = grad(logreg)
    src = g.source(w, Xs, ys)
    assert "backend: array_api" in src
    assert "xp = w.__array_namespace__()" in src
    assert "xp.matmul(X, w)" in src and "xp.logaddexp(" in src
    assert "xp.permute_dims(" in src
    assert "np." not in src and "out=" not in src  # no NumPy call, no buffer reuse
    assert "device=_device" in src  # constants are made on the arguments' device
    assert "backend: array_api" not in g.source(w, X, y)
    g(w, Xs, ys), g(w, X, y)
    assert g.trace_count == 1  # one graph for NumPy and array-API arguments of one signature


def test_named_backend_and_its_argument_checks():
    f = compile(lambda x: np.sum(np.sin(x) ** 2), backend="array_api")
    x = np.linspace(0, 1, 5)
    got = f(xs.asarray(x))
    np.testing.assert_allclose(to_numpy(got), np.sum(np.sin(x) ** 2), rtol=1e-14)
    with pytest.raises(TracegradError, match="needs an argument with __array_namespace__"):
        f(x)  # NumPy only: nowhere to run
    # a float32 array where the graph (traced for float64) wants float64: a same-kind cast
    g = compile(lambda x: x * 2.0, backend="array_api")
    g(xs.asarray(x))
    out = g.executable(xs.asarray(x))([xs.asarray(x.astype(np.float32))])
    assert to_numpy(out[0]).dtype == np.float64


def test_a_primitive_without_a_lowering_is_refused_by_name():
    def f(x):
        return np.sum(np.sort(x))

    x = np.array([3.0, 1.0, 2.0])
    assert f(x) == compile(f)(x)  # the NumPy back end runs it
    with pytest.raises(UnsupportedError) as err:
        compile(f)(xs.asarray(x))
    msg = str(err.value)
    assert "backend 'array_api'" in msg and "primitive 'sort'" in msg
    assert "never falls back to NumPy" in msg


def test_array_indices_are_refused_not_copied_to_the_host():
    f = compile(lambda x, i: np.sum(x[i]))
    with pytest.raises(UnsupportedError, match="primitive 'getitem'.*array indices"):
        f(xs.asarray(np.ones(4)), np.array([0, 2]))


# ----- every lowering computes what NumPy computes -----

U = np.linspace(0.15, 0.85, 12).reshape(3, 4)  # in every function's domain
V = np.linspace(0.9, 0.2, 12).reshape(3, 4)

CASES = {
    "abs": lambda x, y: np.abs(x - 0.5),
    "add": lambda x, y: x + y,
    "all": lambda x, y: np.all(x > 0.5, axis=0),
    "any": lambda x, y: np.any(x > 0.5, axis=1, keepdims=True),
    "arccos": lambda x, y: np.arccos(x),
    "arccosh": lambda x, y: np.arccosh(x + 1.5),
    "arcsin": lambda x, y: np.arcsin(x),
    "arcsinh": lambda x, y: np.arcsinh(x),
    "arctan": lambda x, y: np.arctan(x),
    "arctan2": lambda x, y: np.arctan2(x, y - 0.5),
    "arctanh": lambda x, y: np.arctanh(x),
    "argmax": lambda x, y: np.argmax(x * y, axis=0),
    "argmin": lambda x, y: np.argmin(x * y, axis=1),
    "astype": lambda x, y: (x * 10).astype(np.int32),
    "broadcast_to": lambda x, y: np.broadcast_to(x[0], (2, 3, 4)),
    "ceil": lambda x, y: np.ceil(x * 10),
    "clip": lambda x, y: np.clip(x, 0.3, 0.6),
    "concatenate": lambda x, y: np.concatenate([x, y], axis=1),
    "copysign": lambda x, y: np.copysign(x, y - 0.5),
    "cos": lambda x, y: np.cos(x),
    "div": lambda x, y: x / y,
    "equal": lambda x, y: np.round(x * 3) == np.round(y * 3),
    "exp": lambda x, y: np.exp(x),
    "expand_dims": lambda x, y: np.expand_dims(x, (0, 2)),
    "expm1": lambda x, y: np.expm1(x),
    "floor": lambda x, y: np.floor(x * 10),
    "floor_divide": lambda x, y: np.floor_divide(x * 10, y + 1),
    "getitem": lambda x, y: x[1:, ::2][None, 0],
    "greater": lambda x, y: x > y,
    "greater_equal": lambda x, y: x >= y,
    "isfinite": lambda x, y: np.isfinite(np.log(x - 0.5)),
    "isinf": lambda x, y: np.isinf(np.log(np.abs(x - x[0, 0]))),
    "isnan": lambda x, y: np.isnan(np.sqrt(x - 0.5)),
    "less": lambda x, y: x < y,
    "less_equal": lambda x, y: x <= y,
    "log": lambda x, y: np.log(x),
    "log1p": lambda x, y: np.log1p(x),
    "logaddexp": lambda x, y: np.logaddexp(x, y),
    "logical_and": lambda x, y: np.logical_and(x > 0.3, y > 0.3),
    "logical_not": lambda x, y: np.logical_not(x > 0.3),
    "logical_or": lambda x, y: np.logical_or(x > 0.7, y > 0.7),
    "matmul": lambda x, y: x @ y.T,
    "max": lambda x, y: np.max(x * y, axis=1),
    "maximum": lambda x, y: np.maximum(x, y),
    "min": lambda x, y: np.min(x * y, axis=0, keepdims=True),
    "minimum": lambda x, y: np.minimum(x, y),
    "mul": lambda x, y: x * y,
    "neg": lambda x, y: -x,
    "not_equal": lambda x, y: np.round(x * 3) != np.round(y * 3),
    "pow": lambda x, y: x**y,
    "prod": lambda x, y: np.prod(x, axis=1),
    "reciprocal": lambda x, y: np.reciprocal(x),
    "remainder": lambda x, y: np.remainder(x * 10, y + 1),
    "reshape": lambda x, y: x.reshape(2, 6),
    "scatter_add": lambda x, y: grad(lambda a: np.sum(a[1:, ::2] * y[1:, ::2]))(x),
    "round": lambda x, y: np.round(x * 10),
    "sign": lambda x, y: np.sign(x - 0.5),
    "signbit": lambda x, y: np.signbit(x - 0.5),
    "sin": lambda x, y: np.sin(x),
    "sqrt": lambda x, y: np.sqrt(x),
    "square": lambda x, y: np.square(x),
    "squeeze": lambda x, y: np.squeeze(x[:1], 0),
    "stack": lambda x, y: np.stack([x, y], axis=1),
    "stop_gradient": lambda x, y: stop_gradient(x) * y,
    "sub": lambda x, y: x - y,
    "sum": lambda x, y: np.sum(x, axis=0),
    "tan": lambda x, y: np.tan(x),
    "tanh": lambda x, y: np.tanh(x),
    "transpose": lambda x, y: x.T,
    "where": lambda x, y: np.where(x > y, x, y),
}


# ``after`` (checkpoint's barrier) is checked by the checkpointed MLP test above.
def test_every_lowering_has_a_case():
    assert sorted(CASES) == sorted(set(covered()) - {"after"})


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_lowering_equals_numpy(name, dtype):
    fn = CASES[name]
    x, y = U.astype(dtype), V.astype(dtype)
    f = compile(fn, passes=())  # unoptimised: the primitive is in the graph as traced
    graph = f.executable(x, y).graph
    assert name in {d["op"] for d in graph.node_attrs.values()}
    with np.errstate(all="ignore"):  # log(0), sqrt(-1): the isinf/isnan cases
        want = np.asarray(fn(x, y))
    got = to_numpy(f(xs.asarray(x), xs.asarray(y)))
    assert got.shape == want.shape and got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-14)


# ----- CuPy, where a GPU exists -----


def _gpu() -> bool:
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, no device
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu(), reason="needs CuPy and a GPU")
class TestCuPy:
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_logistic_regression_gradient_equals_numpy(self, dtype):
        import cupy

        X, y = data(dtype)
        w = np.linspace(-1, 1, X.shape[1]).astype(dtype)
        g = grad(logreg)
        got = g(w, cupy.asarray(X), cupy.asarray(y))
        assert isinstance(got, cupy.ndarray)  # computed on the GPU, left there
        assert "backend: array_api" in g.source(w, cupy.asarray(X), cupy.asarray(y))
        want = g(w, X, y)
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=RTOL[dtype] * 10,
                                   atol=RTOL[dtype])  # fmt: skip
