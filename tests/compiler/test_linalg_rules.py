"""Derivatives of the linear algebra: composites (tensordot, kron, cross, trace, diag, triu,
norms, matrix_power, tracer.scipy.linalg) and einsum's spellings against central differences
to second order and jvp against vjp; float32 gradients stay float32; and the values where a
derivative does not exist, as docs/derivatives.md lists them."""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import check_grad, grad, jvp, vjp
from tracer import EvaluationError, UnsupportedError
from tracer.scipy import linalg as tl

pytestmark = pytest.mark.usefixtures("validated_graphs")


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.asarray(np.random.default_rng(seed).uniform(low, high, size=shape))


def spd(*shape, seed=0):
    m, n = shape[-2:]
    return rand(*shape, seed=seed) * 0.3 + np.eye(m, n) * np.arange(1.0, n + 1)


def sym(x):
    return (x + np.swapaxes(x, -1, -2)) / 2


CASES = {
    "einsum-3-operands": (lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c),
                          rand(2, 3), rand(3, 4, seed=1), rand(4, 2, seed=2)),
    "einsum-iii": (lambda a: np.einsum("iii->i", a) ** 2, rand(3, 3, 3)),
    "einsum-iij-sum": (lambda a: np.einsum("iij", a), rand(2, 2, 3)),
    "einsum-broadcast-1": (lambda a, b: np.einsum("ij,jk", a, b), rand(2, 1), rand(3, 4, seed=1)),
    "einsum-sublists": (lambda a, b: np.einsum(a, [0, 1], b, [1], [0]), rand(2, 3), rand(3)),
    "einsum-outer-sum": (lambda a, b: np.einsum("i,j->", a, b), rand(3), rand(2, seed=1)),
    "einsum-optimize": (lambda a, b, c: np.einsum("ij,jk,kl", a, b, c, optimize=True),
                        rand(2, 3), rand(3, 4, seed=1), rand(4, 2, seed=2)),
    "tensordot-int": (lambda a, b: np.tensordot(a, b), rand(2, 3, 4), rand(3, 4, 2, seed=1)),
    "tensordot-pairs": (lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), rand(2, 3, 4),
                        rand(4, 2, 2, seed=1)),
    "inner": (np.inner, rand(2, 3), rand(4, 3, seed=1)),
    "outer": (np.outer, rand(2, 2), rand(3, seed=1)),
    "kron": (np.kron, rand(2, 3), rand(3, 2, seed=1)),
    "cross": (np.cross, rand(4, 3), rand(3, seed=1)),
    "cross-axes": (lambda a, b: np.cross(a, b, axis=0), rand(3, 2), rand(3, 2, seed=1)),
    "dot-nd": (np.dot, rand(2, 3, 4), rand(2, 4, 3, seed=1)),
    "trace": (lambda a: np.trace(a, 1) ** 2, rand(3, 4)),
    "trace-batched": (lambda a: np.trace(a, axis1=1, axis2=2), rand(2, 3, 3)),
    "diagonal": (lambda a: np.diagonal(a, -1) ** 2, rand(4, 3)),
    "diag-embed": (lambda v: np.diag(v, -1) ** 2, rand(3)),
    "triu": (lambda a: np.triu(a, 1) ** 2, rand(3, 4)),
    "tril": (lambda a: np.tril(a) ** 2, rand(2, 3, 3)),
    "matrix_power": (lambda a: np.linalg.matrix_power(a, 5), rand(3, 3) * 0.5),
    "matrix_power-neg": (lambda a: np.linalg.matrix_power(a, -2), spd(3, 3)),
    "norm": (np.linalg.norm, rand(3, 4)),
    "norm-axis": (lambda a: np.linalg.norm(a, axis=1, keepdims=True), rand(3, 4)),
    "norm-1": (lambda a: np.linalg.norm(a, 1), rand(4)),
    "norm-3": (lambda a: np.linalg.norm(a, 3, axis=0), rand(4, 2)),
    "norm-inf": (lambda a: np.linalg.norm(a, np.inf), rand(4)),
    "norm-fro": (lambda a: np.linalg.norm(a, "fro", axis=(0, 2)), rand(2, 3, 2)),
    "norm-nuc": (lambda a: np.linalg.norm(a, "nuc"), spd(3, 4)),
    "norm-2": (lambda a: np.linalg.norm(a, 2), spd(4, 3)),
    "norm-matrix-1": (lambda a: np.linalg.norm(a, 1), rand(3, 3)),
    "vector_norm": (lambda a: np.linalg.vector_norm(a, axis=(0, 1)), rand(2, 3, 2)),
    "solve-batched-broadcast": (np.linalg.solve, spd(3, 3), rand(2, 3, 2, seed=1)),
    "det-batched": (np.linalg.det, rand(2, 2, 3, 3)),
    "pinv-hermitian": (lambda a: np.linalg.pinv(sym(a), hermitian=True), spd(3, 3)),
    "svd-hermitian": (lambda a: np.linalg.svd(sym(a), hermitian=True)[1], spd(3, 3)),
    "svd-batched": (lambda a: np.linalg.svd(a, full_matrices=False)[0] ** 2, spd(2, 4, 3)),
    "qr-complete-r": (lambda a: np.linalg.qr(a, mode="complete")[1], rand(4, 3)),
    "qr-square": (lambda a: np.linalg.qr(a)[0], rand(3, 3)),
    "eigh-upper": (lambda a: np.linalg.eigh(sym(a), UPLO="U")[1] ** 2, spd(3, 3)),
    "solve_triangular": (lambda a, b: tl.solve_triangular(a, b, lower=True, trans=1),
                         spd(3, 3), rand(3, 2, seed=1)),
    "solve_triangular-unit": (lambda a, b: tl.solve_triangular(a, b, unit_diagonal=True),
                              spd(3, 3), rand(3, seed=1)),
    "scipy-cholesky": (lambda a: tl.cholesky(sym(a)), spd(3, 3)),
    "cho_solve": (lambda a, b: tl.cho_solve(tl.cho_factor(sym(a), lower=True), b), spd(3, 3),
                  rand(3, seed=1)),
    "expm-batched": (tl.expm, rand(2, 3, 3) * 0.7),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_grad_matches_central_differences(name):
    fn, *args = CASES[name]
    check_grad(fn, *args, order=2, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_consistent_with_vjp(name):
    fn, *args = CASES[name]
    rng = np.random.default_rng(7)
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    out, t_out = jvp(fn, tuple(args), tangents)
    np.testing.assert_allclose(out, fn(*args), rtol=1e-12, atol=1e-12)
    _, vjp_fn = vjp(fn, *args)
    u = rng.standard_normal(np.shape(out))
    cts = vjp_fn(u)
    lhs = np.sum(u * t_out)
    rhs = sum(np.sum(c * t) for c, t in zip(cts, tangents))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


FLOAT32 = [
    "einsum-3-operands", "einsum-iii", "tensordot-pairs", "kron", "cross", "trace", "diag-embed",
    "triu", "matrix_power-neg", "norm", "norm-3", "norm-nuc", "solve-batched-broadcast",
    "det-batched", "svd-batched", "qr-square", "eigh-upper", "cho_solve", "expm-batched",
]  # fmt: skip
FLOAT32_PRIMITIVES = {
    "inv": (np.linalg.inv, spd(3, 3)),
    "slogdet": (lambda a: np.linalg.slogdet(a)[1], spd(3, 3)),
    "pinv": (np.linalg.pinv, spd(3, 4)),
    "cholesky": (lambda a: np.linalg.cholesky(sym(a)), spd(3, 3)),
    "eigvalsh": (lambda a: np.linalg.eigvalsh(sym(a)), spd(3, 3)),
    "svd-vh": (lambda a: np.linalg.svd(a, full_matrices=False)[2] ** 2, spd(3, 4)),
    "svdvals": (np.linalg.svdvals, spd(4, 3)),
    "qr-r": (lambda a: np.linalg.qr(a)[1], rand(3, 4)),
}


@pytest.mark.parametrize("name", FLOAT32 + sorted(FLOAT32_PRIMITIVES))
def test_float32_gradients_stay_float32(name):
    fn, *args = CASES[name] if name in CASES else FLOAT32_PRIMITIVES[name]
    argnums = tuple(range(len(args)))
    args32 = [a.astype(np.float32) for a in args]
    out = np.asarray(fn(*args32))
    assert out.dtype == np.float32
    w = np.linspace(0.5, 1.5, out.size).reshape(out.shape)

    def loss(*a):
        return np.sum(fn(*a) * w.astype(a[0].dtype))

    g32 = grad(loss, argnums=argnums)(*args32)
    graph = grad(loss, argnums=argnums).trace(*args32)
    floats = {d["dtype"] for d in graph.nodes.values()
              if np.dtype(d["dtype"]).kind == "f" and not d.get("capture")}  # fmt: skip
    assert floats == {"float32"}  # (w, read from the closure, is a float64 input)
    g64 = grad(loss, argnums=argnums)(*args)
    for g, ref in zip(g32, g64):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, ref, rtol=2e-3, atol=2e-3)


# ----- where derivatives do not exist (docs/derivatives.md) -----


def test_norms_at_zero_have_gradient_zero():
    for fn in (np.linalg.norm, lambda x: np.linalg.norm(x, 3),
               lambda x: np.linalg.norm(x.reshape(2, 2), "fro")):  # fmt: skip
        np.testing.assert_array_equal(grad(fn)(np.zeros(4)), np.zeros(4))
        np.testing.assert_array_equal(jvp(fn, (np.zeros(4),), (np.ones(4),))[1], 0.0)
    # away from zero: x / |x|
    x = np.array([3.0, 4.0])
    np.testing.assert_allclose(grad(np.linalg.norm)(x), x / 5.0)


def test_eigh_and_cholesky_gradients_are_symmetric():
    a = spd(3, 3) + np.triu(rand(3, 3, seed=5), 1)  # not symmetric: NumPy reads the lower part
    for fn in (lambda m: np.sum(np.linalg.eigh(m)[0] * np.arange(3.0)),
               lambda m: np.sum(np.linalg.eigh(m)[1] ** 3),
               lambda m: np.sum(np.linalg.cholesky(m) ** 2)):  # fmt: skip
        g = grad(fn)(a)
        np.testing.assert_allclose(g, g.T, rtol=1e-12, atol=1e-12)
        # equal to the derivative along symmetric perturbations of the matrix NumPy reads
        low = np.tril(a) + np.tril(a, -1).T
        np.testing.assert_allclose(g, grad(lambda m, fn=fn: fn(sym(m)))(low), rtol=1e-7, atol=1e-9)


def test_repeated_eigenvalues():
    a = np.diag([1.0, 1.0, 2.0])
    # eigenvalues: finite (the sum of a cluster is smooth)
    np.testing.assert_allclose(grad(lambda m: np.sum(np.linalg.eigvalsh(m)))(a), np.eye(3))
    # eigenvectors: F = 1/(w_j - w_i) is infinite: the gradient is not finite
    with np.errstate(all="ignore"):
        g = grad(lambda m: np.sum(np.linalg.eigh(m)[1] * np.arange(9.0).reshape(3, 3)))(a)
    assert not np.isfinite(g).all()


def test_repeated_singular_values():
    a = np.eye(3)
    np.testing.assert_allclose(grad(lambda m: np.sum(np.linalg.svdvals(m)))(a), np.eye(3))
    with np.errstate(all="ignore"):
        g = grad(lambda m: np.sum(np.linalg.svd(m)[0] * np.arange(9.0).reshape(3, 3)))(a)
    assert not np.isfinite(g).all()


def test_svd_full_matrices_of_a_non_square_matrix():
    tall = spd(4, 3)
    with pytest.raises(UnsupportedError, match="full_matrices=False"):
        grad(lambda m: np.sum(np.linalg.svd(m)[0]))(tall)
    with pytest.raises(UnsupportedError, match="full_matrices=False"):
        grad(lambda m: np.sum(np.linalg.svd(m)[2]))(tall.T)
    # forward mode: the unique columns differentiate, the extra ones are nan
    _, t = jvp(lambda m: np.linalg.svd(m)[0], (tall,), (np.ones((4, 3)),))
    assert np.isfinite(t[:, :3]).all() and np.isnan(t[:, 3:]).all()
    # U of a wide matrix and Vh of a tall one are unique: full_matrices changes nothing
    check_grad(lambda m: np.linalg.svd(m)[0] ** 2, tall.T, order=1)
    check_grad(lambda m: np.linalg.svd(m)[1], tall, order=1)


def test_qr_complete_of_a_tall_matrix():
    tall = rand(4, 3)
    with pytest.raises(UnsupportedError, match="mode='reduced'"):
        grad(lambda m: np.sum(np.linalg.qr(m, mode="complete")[0]))(tall)
    _, t = jvp(lambda m: np.linalg.qr(m, mode="complete")[0], (tall,), (np.ones((4, 3)),))
    assert np.isfinite(t[:, :3]).all() and np.isnan(t[:, 3:]).all()


def test_singular_matrices_raise_in_the_gradient():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert np.linalg.det(singular) == 0.0
    for fn in (np.linalg.det, lambda m: np.linalg.slogdet(m)[1], lambda m: np.linalg.inv(m)[0, 0]):
        with pytest.raises(EvaluationError, match="LinAlgError: Singular matrix"):
            grad(fn)(singular)
