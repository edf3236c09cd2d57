"""Derivatives of the reductions, scans, sorting, statistics and shape functions.

One table of ``(fn, args)``: plain NumPy code over float64 arguments. Each case is
checked against central differences to second order, its jvp against its vjp, and in
float32: every gradient, tangent and second derivative stays float32 and agrees with
float64. Then the values at kinks and zeros that docs/derivatives.md lists (prod and
cumprod with zeros, ties in sort, partition, median and ptp), and the integer and
boolean results (argsort, any, ...) that carry no gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import check_grad, compile, grad, hessian, jvp, vjp

pytestmark = pytest.mark.usefixtures("validated_graphs")


def rand(*shape, low=-2.0, high=2.0, seed=0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).uniform(low, high, size=shape))


X = rand(3, 4, seed=1)
X3 = rand(2, 3, 4, seed=2)
V = rand(5, seed=3)
ZEROS = np.array([[1.5, 0.0, -0.7, 2.0], [0.0, 1.2, 0.0, 0.9], [0.0, 0.0, 0.0, 0.0]])
NANS = np.where(np.eye(3, 4, 1) + np.eye(3, 4, -1) > 0, np.nan, rand(3, 4, seed=5))

CASES = {
    # reductions and scans
    "prod": (lambda x: np.prod(x), X),
    "prod-axis": (lambda x: np.prod(x, axis=1), X),
    "prod-axes-keepdims": (lambda x: np.prod(x, axis=(0, 2), keepdims=True), X3),
    "prod-zeros": (lambda x: np.prod(x, axis=1), ZEROS),
    "prod-zeros-all": (lambda x: x.prod(), ZEROS[:2, :2] + np.eye(2)),
    "cumsum": (lambda x: np.cumsum(x, axis=1), X),
    "cumsum-flat": (lambda x: np.cumsum(x), X3),
    "cumprod": (lambda x: np.cumprod(x, axis=-1), X3),
    "cumprod-axis0": (lambda x: x.cumprod(0), X),
    "cumprod-zeros": (lambda x: np.cumprod(x, axis=1), ZEROS),
    "cumprod-long": (lambda x: np.cumprod(x), rand(37, low=0.5, high=1.5, seed=6)),
    "diff": (lambda x: np.diff(x), X),
    "diff-n2-axis0": (lambda x: np.diff(x, n=2, axis=0), X),
    "diff-prepend-append": (lambda x, y: np.diff(x, prepend=y, append=1.5), X, rand(3, 1, seed=7)),
    "ptp": (lambda x: np.ptp(x, axis=0), X),
    "nansum": (lambda x: np.nansum(x, axis=1), NANS),
    "nanmean": (lambda x: np.nanmean(x, axis=0, keepdims=True), NANS),
    "average": (lambda x: np.average(x, axis=1), X),
    "average-weights": (lambda x, w: np.average(x, axis=1, weights=w), X, rand(4, low=0.5, seed=8)),
    "average-returned": (
        lambda x, w: np.average(x, axis=0, weights=w, returned=True),
        X,
        rand(3, 4, low=0.5),
    ),
    # sorting
    "sort": (lambda x: np.sort(x, axis=1), X),
    "sort-axis0": (lambda x: np.sort(x, axis=0) ** 2, X3),
    "sort-flat": (lambda x: np.sort(x, axis=None), X),
    "partition": (lambda x: np.partition(x, 1, axis=1), X),
    "partition-kths": (lambda x: np.partition(x, (0, 2), axis=None) ** 2, X),
    "median": (lambda x: np.median(x), X),
    "median-odd": (lambda x: np.median(x, axis=0), X),
    "median-even-keepdims": (lambda x: np.median(x, axis=(0, 2), keepdims=True), X3),
    "take_along_axis": (lambda x: np.take_along_axis(x, np.argsort(x, axis=0), axis=0), X),
    "sort-by-key": (lambda x, y: np.take_along_axis(y, np.argsort(x, axis=1), axis=1), X, X * 3),
    # shapes
    "split": (lambda x: np.split(x, 2, axis=1), X),
    "array_split": (lambda x: np.array_split(x, 3, axis=-1), X3),
    "hsplit-vsplit-dsplit": (
        lambda x: [*np.hsplit(x, [1]), *np.vsplit(x, 2), *np.dsplit(x, 2)],
        X3,
    ),
    "repeat": (lambda x: np.repeat(x, 2, axis=1), X),
    "repeat-counts": (lambda x: np.repeat(x, [2, 0, 1], axis=0), X),
    "repeat-flat": (lambda x: x.repeat(3), X),
    "tile": (lambda x: np.tile(x, (2, 1, 3)), X),
    "pad-constant": (lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=3.0), X),
    "pad-traced-constant": (lambda x, c: np.pad(x, 2, constant_values=c), X, np.array(0.5)),
    "pad-edge": (lambda x: np.pad(x, 2, mode="edge"), X),
    "pad-reflect": (lambda x: np.pad(x, ((5, 2), (3, 4)), mode="reflect"), X),
    "pad-symmetric": (lambda x: np.pad(x, ((5, 2), (3, 4)), mode="symmetric"), X),
    "pad-wrap": (lambda x: np.pad(x, ((7, 2), (3, 5)), mode="wrap"), X),
    "roll": (lambda x: np.roll(x, (1, -3), axis=(0, 1)), X),
    "roll-flat": (lambda x: np.roll(x, 5), X),
    "flipud-fliplr": (lambda x: np.flipud(x) * np.fliplr(x), X),
    "rot90": (lambda x: np.rot90(x) * 2.0 + np.rot90(x, -1), X),
    "rot90-k2": (lambda x: np.rot90(x, 2, axes=(2, 1)), X3),
    "stack": (lambda x: [np.dstack([x, x * 2.0]), np.column_stack([x[:, 0] ** 2, x])], X),
    "append": (lambda x, y: np.append(x, y) + np.append(y, x), X, rand(2, 6, seed=9)),
    "atleast_3d": (lambda x, y: np.atleast_3d(x, y), X, V),
    "rollaxis": (lambda x: np.rollaxis(x, 2) ** 2, X3),
    "reshape-F": (lambda x: x.reshape((2, 6), order="F") ** 2, X),
    "ravel-F": (lambda x: np.ravel(x, order="F") ** 2, X3),
    "select": (lambda x: np.select([x > 1, x < -1], [x**2, np.sin(x)], default=x), X),
    "choose": (lambda x: np.choose(np.array([1, 0, 2, 1]), [x, x**2, -x]), X),
    "compress": (lambda x: np.compress([True, False, True, True], x, axis=1), X),
    "linspace": (lambda a, b: np.linspace(a, b, 7), np.array(-1.5), np.array(2.0)),
    "linspace-arrays": (lambda a, b: np.linspace(a, b, 4, axis=1, endpoint=False), V, V[::-1]),
    "linspace-retstep": (lambda a, b: np.linspace(a, b, 5, retstep=True), np.array(0.3), V),
    "meshgrid": (lambda x, y: np.meshgrid(x, y), V, X[0]),
    "meshgrid-ij-sparse": (lambda x, y: np.meshgrid(x**2, y, indexing="ij", sparse=True), V, X[0]),
    "broadcast_arrays": (lambda x, y: np.broadcast_arrays(x, y), X, X[:1]),
}


def _flat(fn):
    """``fn`` with its outputs (a list or tuple of arrays, or one) joined into one vector."""

    def flat(*args):
        out = fn(*args)
        leaves = out if isinstance(out, (list, tuple)) else [out]
        return np.concatenate([np.ravel(v) for v in leaves])

    return flat


def _float_argnums(args):
    return tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f")


@pytest.mark.parametrize("name", sorted(CASES))
def test_grad_matches_central_differences(name):
    fn, *args = CASES[name]
    check_grad(fn, *args, order=2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_consistent_with_vjp(name):
    fn, *args = CASES[name]
    f = _flat(fn)
    rng = np.random.default_rng(42)
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    out, t_out = jvp(f, tuple(args), tangents)
    expected = f(*args)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    _, vjp_fn = vjp(f, *args)
    u = rng.standard_normal(expected.shape)
    cts = vjp_fn(u)
    lhs = np.sum(u * t_out)
    rhs = sum(np.sum(ct * t) for ct, t in zip(cts, tangents))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32_and_agrees(name):
    fn, *args = CASES[name]
    f = _flat(fn)
    argnums = _float_argnums(args)
    args32 = [np.asarray(a, np.float32) for a in args]
    args64 = [a.astype(np.float64) for a in args32]
    w = np.random.default_rng(7).standard_normal(np.shape(f(*args64)))

    def loss(*a):
        y = f(*a)
        return np.sum(y * w.astype(y.dtype))  # float32 weights for float32 values

    g32, g64 = grad(loss, argnums=argnums)(*args32), grad(loss, argnums=argnums)(*args64)
    for g, ref in zip(g32, g64):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, ref, rtol=2e-3, atol=2e-3)
    # second order: the gradient of <grad, u>
    u = [np.random.default_rng(8).standard_normal(np.shape(args[i])) for i in argnums]

    def along(*a):
        gs = grad(loss, argnums=argnums)(*a)
        return sum(np.sum(g * ui.astype(g.dtype)) for g, ui in zip(gs, u))

    h32, h64 = grad(along, argnums=argnums)(*args32), grad(along, argnums=argnums)(*args64)
    for h, ref in zip(h32, h64):
        assert h.dtype == np.float32
        np.testing.assert_allclose(h, ref, rtol=2e-3, atol=2e-3)
    out32, t32 = jvp(f, tuple(args32), tuple(np.ones_like(a) for a in args32))
    assert t32.dtype == out32.dtype == f(*args32).dtype  # float32, but where NumPy promotes
    assert out32.dtype == np.float32 or name == "diff-prepend-append"  # np.asarray(1.5): f8


@pytest.mark.parametrize("name", ["prod-zeros", "cumprod-zeros", "median", "sort", "pad-reflect"])
def test_compiled_gradient_equals_traced(name):
    fn, *args = CASES[name]
    loss = lambda *a: np.sum(_flat(fn)(*a) ** 2)
    np.testing.assert_allclose(compile(grad(loss))(*args), grad(loss)(*args), rtol=1e-12)


# ----- zeros in prod and cumprod (docs/derivatives.md) -----


def _prod_others(x):
    return np.array([np.prod(np.delete(x, k)) for k in range(x.size)])


@pytest.mark.parametrize(
    "x",
    [[2.0, 0.0, 3.0, -1.5], [0.0, 2.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.5], [0.0], [1.5, -2.0]],
)
def test_prod_gradient_with_zeros_is_the_product_of_the_others(x):
    x = np.array(x)
    np.testing.assert_array_equal(grad(np.prod)(x), _prod_others(x))
    np.testing.assert_array_equal(jvp(np.prod, (x,), (np.ones_like(x),))[1], _prod_others(x).sum())
    # the Hessian too: d2/dxi dxj prod(x) = product of the entries other than i and j
    expected = np.array(
        [[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(x.size)]
         for i in range(x.size)]
    )  # fmt: skip
    np.testing.assert_allclose(hessian(np.prod)(x), expected, atol=1e-15)


@pytest.mark.parametrize(
    "x", [[2.0, 0.0, 3.0, -1.5, 0.5], [0.0, 2.0, 0.0, 3.0, 1.0], [1.0, 2.0, 3.0, 0.0, 0.0]]
)
def test_cumprod_gradient_with_zeros(x):
    x, w = np.array(x), np.array([0.3, -1.0, 2.0, 0.7, 1.1])

    def expected_grad(x):
        # d/dx_k sum_i w_i prod_{j<=i} x_j = sum_{i>=k} w_i prod_{j<=i, j!=k} x_j
        return np.array(
            [sum(w[i] * np.prod(np.delete(x[: i + 1], k)) for i in range(k, x.size))
             for k in range(x.size)]
        )  # fmt: skip

    f = lambda a: np.sum(np.cumprod(a) * w)
    np.testing.assert_allclose(grad(f)(x), expected_grad(x), atol=1e-15)
    np.testing.assert_allclose(jvp(f, (x,), (np.ones(5),))[1], expected_grad(x).sum(), atol=1e-15)
    check_grad(f, x, order=2)  # central differences are exact enough: f is a polynomial


# ----- ties (docs/derivatives.md) -----


def test_sort_ties_follow_the_stable_order():
    x = np.array([2.0, 1.0, 2.0, 2.0])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    # sorted: [1 (x1), 2 (x0), 2 (x2), 2 (x3)]: the j-th tied input feeds the j-th tied place
    np.testing.assert_array_equal(grad(lambda a: np.sum(np.sort(a) * w))(x), [2.0, 1.0, 3.0, 4.0])
    np.testing.assert_array_equal(jvp(lambda a: np.sort(a), (x,), (w,))[1], [2.0, 1.0, 3.0, 4.0])
    g = grad(lambda a: np.sum(np.partition(a, 0) * w))(x)
    np.testing.assert_array_equal(np.sort(g), np.sort(w))  # a permutation of the weights
    np.testing.assert_array_equal(g[1], w[0])  # the smallest goes to place 0


@pytest.mark.parametrize(
    "x, expected",
    [
        ([3.0, 1.0, 2.0], [0.0, 0.0, 1.0]),
        ([1.0, 4.0, 2.0, 3.0], [0.0, 0.0, 0.5, 0.5]),  # even count: the two middle entries
        ([1.0, 2.0, 2.0], [0.0, 0.5, 0.5]),  # the middle value twice: split
        ([2.0, 2.0, 3.0, 2.0], [1 / 3, 1 / 3, 0.0, 1 / 3]),
        ([1.0, 2.0, 2.0, 3.0, 2.0], [0.0, 1 / 3, 1 / 3, 0.0, 1 / 3]),
        ([5.0, 5.0, 5.0, 5.0], [0.25, 0.25, 0.25, 0.25]),
    ],
)
def test_median_goes_to_the_middle_entries_ties_split(x, expected):
    x = np.array(x)
    np.testing.assert_allclose(grad(np.median)(x), expected)
    np.testing.assert_allclose(jvp(np.median, (x,), (np.arange(1.0, x.size + 1),))[1],
                               np.dot(expected, np.arange(1.0, x.size + 1)))  # fmt: skip


def test_median_along_an_axis():
    x = np.array([[1.0, 3.0, 3.0], [4.0, 0.0, 2.0]])
    g = grad(lambda a: np.sum(np.median(a, axis=1) * np.array([1.0, 10.0])))(x)
    np.testing.assert_allclose(g, [[0.0, 0.5, 0.5], [0.0, 0.0, 10.0]])


def test_ptp_is_max_minus_min_with_their_tie_rules():
    x = np.array([1.0, 3.0, 3.0, 1.0, 2.0])
    np.testing.assert_array_equal(grad(np.ptp)(x), [-0.5, 0.5, 0.5, -0.5, 0.0])


def test_diff_is_linear():
    x, w = rand(5, seed=10), rand(3, seed=11)
    g = grad(lambda a: np.sum(np.diff(a, n=2) * w))(x)
    # diff twice: x_{i+2} - 2 x_{i+1} + x_i
    expected = np.zeros(5)
    for i, wi in enumerate(w):
        expected[i : i + 3] += wi * np.array([1.0, -2.0, 1.0])
    np.testing.assert_allclose(g, expected, atol=1e-15)


def test_diff_of_booleans_carries_no_gradient():
    x = np.array([-1.0, 0.5, 2.0, -0.3])
    g = grad(lambda a: np.sum(np.diff(a > 0).astype(np.float64) * a[1:]))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0, 1.0])


# ----- integer and boolean results: no gradient -----


X4 = np.array([0.7, -1.5, 2.0, 0.1])


@pytest.mark.parametrize(
    "fn, expected",
    [
        (lambda a: np.sum(np.argsort(a) * a), np.argsort(X4)),
        (lambda a: np.sum(np.argpartition(a, 1) * a), np.argpartition(X4, 1)),
        (lambda a: np.sum(np.searchsorted(np.array([-1.0, 0.0, 1.0]), a) * a), [2, 0, 3, 2]),
        (lambda a: np.sum(np.where(np.any(a > 1.0), a, -a)), [1, 1, 1, 1]),
        (lambda a: np.sum(np.where(np.all(a > -1.0), a, -a)), [-1, -1, -1, -1]),
        (lambda a: np.sum(a[np.argsort(a)] * np.arange(4.0)), np.argsort(np.argsort(X4))),
    ],
)
def test_integer_and_boolean_results_carry_no_gradient(fn, expected):
    # the integer or boolean value is a constant factor: only the other operand differentiates
    np.testing.assert_array_equal(grad(fn)(X4), np.asarray(expected, dtype=np.float64))
    check_grad(fn, X4, order=2)
