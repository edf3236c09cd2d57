"""``tracer.scipy.stats``: each distribution's functions give SciPy's numbers and shapes (with
``loc``/``scale``, broadcasting, invalid parameters, points outside the support), trace, and
have gradients that match central differences; float32 stays float32."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from compiler import check_grad, grad
from tracer import ShapeError, trace
from tracer.scipy import stats

ss = pytest.importorskip("scipy.stats")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 3))
COV = (lambda m: m @ m.T + np.eye(3))(RNG.normal(size=(3, 3)))
MEAN = RNG.normal(size=3)
ALPHA = np.array([0.5, 2.0, 3.0])
SIMPLEX = RNG.dirichlet(ALPHA, size=4).T  # (3, 4): SciPy's layout, one point per column
EDGES = np.array([-1.0, 0.0, 0.25, 1.0, 1.5, np.nan])

# (distribution, method, arguments after x): SciPy's signatures, keywords included
CASES = [
    ("norm", "logpdf", X, (), {}),
    ("norm", "logpdf", X, (0.5, 2.0), {}),
    ("norm", "logpdf", X, (), {"loc": np.array([0.0, 1.0, -1.0]), "scale": 0.5}),
    ("norm", "logpdf", X, (), {"scale": np.array([[-1.0], [0.0]])}),  # invalid: nan
    ("norm", "pdf", X, (0.5, 2.0), {}),
    ("norm", "cdf", X, (), {"loc": 1.0}),
    ("norm", "logcdf", X * 20.0, (), {}),
    ("norm", "sf", X, (0.5, 2.0), {}),
    ("norm", "logsf", X * 20.0, (), {}),
    ("norm", "logpdf", 1.5, (), {}),
    ("t", "logpdf", X, (3.5,), {}),
    ("t", "logpdf", X, (np.array([1.0, 4.0, np.inf]), 0.2), {"scale": 1.5}),
    ("t", "logpdf", X, (-1.0,), {}),
    ("t", "pdf", X, (2.5,), {}),
    ("gamma", "logpdf", EDGES, (2.5,), {}),
    ("gamma", "logpdf", EDGES, (0.5,), {"loc": -0.5, "scale": 2.0}),
    ("gamma", "logpdf", EDGES, (1.0,), {}),
    ("gamma", "logpdf", EDGES, (-1.0,), {}),
    ("gamma", "pdf", EDGES, (3.0,), {}),
    ("beta", "logpdf", EDGES, (0.5, 2.0), {}),
    ("beta", "logpdf", EDGES, (2.0, 3.0), {"loc": -1.0, "scale": 3.0}),
    ("beta", "logpdf", EDGES, (1.0, 1.0), {}),
    ("beta", "logpdf", EDGES, (0.0, 1.0), {}),
    ("beta", "pdf", EDGES, (2.0, 0.5), {}),
    ("poisson", "logpmf", np.array([-1.0, 0.0, 1.0, 2.5, 3.0, np.nan]), (2.5,), {}),
    ("poisson", "logpmf", np.arange(6), (np.array([[0.0], [1.5]]),), {}),
    ("poisson", "logpmf", np.arange(4), (-1.0,), {}),
    ("poisson", "logpmf", np.arange(4), (2.0,), {"loc": 1}),
    ("poisson", "pmf", np.arange(4), (2.0,), {}),
    ("dirichlet", "logpdf", SIMPLEX, (ALPHA,), {}),
    ("dirichlet", "logpdf", SIMPLEX[:, 0], (ALPHA,), {}),
    ("dirichlet", "logpdf", SIMPLEX[:2], (ALPHA,), {}),
    ("dirichlet", "pdf", SIMPLEX, (ALPHA,), {}),
    ("multivariate_normal", "logpdf", X, (MEAN, COV), {}),
    ("multivariate_normal", "logpdf", X[0], (), {"mean": MEAN, "cov": COV}),
    ("multivariate_normal", "logpdf", X, (MEAN, np.array([1.0, 2.0, 3.0])), {}),
    ("multivariate_normal", "logpdf", X, (MEAN, 2.0), {}),
    ("multivariate_normal", "logpdf", X[0], (), {}),
    ("multivariate_normal", "logpdf", 0.5, (), {"cov": 2.0}),
    ("multivariate_normal", "logpdf", X[:, :2].reshape(2, 1, 2), (None, COV[:2, :2]), {}),
    ("multivariate_normal", "pdf", X, (MEAN, COV), {}),
]


def _id(case):
    dist, method, x, args, kwargs = case
    return f"{dist}.{method}-{np.shape(x)}-{len(args)}-{','.join(kwargs)}"


def _call(module, case, x):
    dist, method, _, args, kwargs = case
    return getattr(getattr(module, dist), method)(x, *args, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_equals_scipy(case):
    x = case[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.asarray(_call(ss, case, x))
        traced = np.asarray(trace(lambda v: _call(stats, case, v))(x))
        plain = np.asarray(_call(stats, case, x))  # no trace: the same code on NumPy arrays
    for got in (traced, plain):
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("case", [c for c in CASES if np.ndim(c[2])], ids=_id)
def test_float32_stays_float32(case):
    # SciPy computes in float64 whatever it is given; here float32 gives float32
    x32 = np.asarray(case[2], np.float32)
    args32 = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in case[3])
    case32 = (*case[:3], args32, case[4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = trace(lambda v: _call(stats, case32, v))(x32)
        expected = _call(ss, case32, x32)
    if not any(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in case[4].values()):
        assert np.asarray(got).dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-30)


# ----- gradients with respect to x and every parameter -----
GRADIENTS = {
    "norm.logpdf": (stats.norm.logpdf, (X, 0.3, 1.7)),
    "norm.logcdf": (stats.norm.logcdf, (X * 3.0, 0.3, 1.7)),
    "norm.logsf": (stats.norm.logsf, (X * 3.0, 0.3, 1.7)),
    "t.logpdf": (stats.t.logpdf, (X, 3.5, 0.2, 1.5)),
    "gamma.logpdf": (stats.gamma.logpdf, (np.abs(X) + 0.1, 2.5, 0.05, 1.3)),
    "beta.logpdf": (stats.beta.logpdf, (np.array([0.1, 0.4, 0.8]), 1.5, 2.5, 0.0, 1.0)),
    # (k is discrete: off the integers the pmf is 0)
    "poisson.logpmf": (lambda mu: stats.poisson.logpmf(np.arange(4.0), mu), (1.7,)),
    "dirichlet.logpdf": (stats.dirichlet.logpdf, (np.array([[0.2, 0.3], [0.5, 0.3]]), ALPHA)),
    "multivariate_normal.logpdf": (stats.multivariate_normal.logpdf, (X, MEAN, COV)),
    "multivariate_normal.diag": (stats.multivariate_normal.logpdf, (X, MEAN, np.diag(COV))),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_central_differences(name):
    fn, args = GRADIENTS[name]
    check_grad(fn, *args, order=2)
    args32 = tuple(np.asarray(a, np.float32) for a in args)
    argnums = tuple(range(len(args)))
    grads = grad(lambda *a: np.sum(fn(*a)), argnums=argnums)(*args32)
    assert all(g.dtype == np.float32 for g in grads)
    check_grad(fn, *args32, order=2, eps=1e-3, rtol=3e-3, atol=3e-3)


def test_multivariate_normal_gradient_wrt_cov_sits_in_its_lower_triangle():
    g = grad(lambda c: np.sum(stats.multivariate_normal.logpdf(X, MEAN, c)))(COV)
    assert np.all(np.triu(g, 1) == 0.0) and np.all(np.diag(g) != 0.0)
    # the symmetric gradient, folded into the lower triangle
    inv = np.linalg.inv(COV)
    dev = X - MEAN
    full = sum(-0.5 * inv + 0.5 * inv @ np.outer(d, d) @ inv for d in dev)
    np.testing.assert_allclose(g, np.tril(full + full.T - np.diag(np.diag(full))), rtol=1e-10)


def test_a_numpy_covariance_is_factored_once_at_trace_time():
    # (COV itself, a global, is an input of the trace: captured values are read at every call)
    fn = lambda x: stats.multivariate_normal.logpdf(x, MEAN, np.eye(3) + 0.5)  # noqa: E731
    graph = trace(fn).trace(X)
    assert "sqrt" not in {d["op"] for d in graph.nodes.values()}
    np.testing.assert_allclose(
        trace(fn)(X), ss.multivariate_normal.logpdf(X, MEAN, np.eye(3) + 0.5)
    )
    graph = trace(lambda x, c: stats.multivariate_normal.logpdf(x, MEAN, c)).trace(X, COV)
    assert "sqrt" in {d["op"] for d in graph.nodes.values()}


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: stats.dirichlet.logpdf(x, ALPHA[:2]), "must have 2 or 1 entries"),
        (lambda x: stats.dirichlet.logpdf(x, np.ones((2, 2))), "one-dimensional"),
        (lambda x: stats.multivariate_normal.logpdf(x, MEAN, np.eye(2)), "does not fit"),
    ],
)
def test_shape_errors_name_the_distribution(call, match):
    with pytest.raises(ShapeError, match=match):
        trace(call)(SIMPLEX)


def test_repr_names_the_namespace():
    assert repr(stats.norm) == "tracer.scipy.stats.norm"
