"""Linear algebra on complex matrices: values and dtypes as NumPy's, derivatives of the
holomorphic ops (and of norms) against complex central differences, and one clear error
where a rule is written for real matrices only (never a wrong number)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import grad, jacobian, jvp, vjp
from tracer import UnsupportedError, trace
from tracer.scipy.linalg import expm

RNG = np.random.default_rng(7)
A = RNG.normal(size=(3, 3)) + 1j * RNG.normal(size=(3, 3)) + 3 * np.eye(3)
B = RNG.normal(size=(3,)) + 1j * RNG.normal(size=(3,))


def herm(z):
    return z @ np.conj(np.swapaxes(z, -1, -2))


def complex_grad(f, z, eps=1e-6):
    """JAX's convention for a real f of complex z: df/dx - 1j df/dy, by central differences."""
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        e = np.zeros(z.shape, complex)
        e[i] = eps
        g[i] = (f(z + e) - f(z - e)) / (2 * eps) - 1j * (f(z + 1j * e) - f(z - 1j * e)) / (2 * eps)
    return g


VALUES = {
    "norm": lambda z: np.linalg.norm(z),
    "norm-vector": lambda z: np.linalg.norm(z[0]),
    "norm-axis": lambda z: np.linalg.norm(z, axis=0),
    "norm-0": lambda z: np.linalg.norm(z[0], 0),
    "norm-3": lambda z: np.linalg.norm(z[0], 3),
    "norm-nuc": lambda z: np.linalg.norm(z, "nuc"),
    "slogdet": lambda z: np.linalg.slogdet(z),
    "det": np.linalg.det,
    "inv": np.linalg.inv,
    "solve": lambda z: np.linalg.solve(z, B),
    "pinv": np.linalg.pinv,
    "svd": lambda z: np.linalg.svd(z),
    "svdvals": lambda z: np.linalg.svd(z, compute_uv=False),
    "eigh": lambda z: np.linalg.eigh(herm(z)),
    "eigvalsh": lambda z: np.linalg.eigvalsh(herm(z)),
    "cholesky": lambda z: np.linalg.cholesky(herm(z)),
    "qr": lambda z: np.linalg.qr(z),
    "einsum": lambda z: np.einsum("ij,jk->ik", z, np.conj(z)),
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_values_and_dtypes_equal_numpy(name):
    f = VALUES[name]
    got, want = trace(f)(A), f(A)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


REAL_OUTPUT = {  # real functions of a complex matrix through holomorphic ops and norms
    "det": lambda z: np.abs(np.linalg.det(z)) ** 2,
    "inv": lambda z: np.sum(np.abs(np.linalg.inv(z)) ** 2),
    "solve": lambda z: np.sum(np.real(np.linalg.solve(z, B)) * np.imag(np.linalg.solve(z, B))),
    "pinv": lambda z: np.sum(np.abs(np.linalg.pinv(z)) ** 2),
    "einsum": lambda z: np.real(np.einsum("ij,ji->", z, np.conj(z) + z)),
    "expm": lambda z: np.sum(np.abs(expm(z * 0.3)) ** 2),
    "norm": lambda z: np.linalg.norm(z),
    "norm-vector": lambda z: np.linalg.norm(z[0] + z[1]),
    "norm-3": lambda z: np.linalg.norm(z[0], 3),
    "norm-inf": lambda z: np.linalg.norm(z, np.inf),
}


@pytest.mark.parametrize("name", sorted(REAL_OUTPUT))
def test_gradient_matches_complex_central_differences(name):
    f = REAL_OUTPUT[name]
    np.testing.assert_allclose(grad(f)(A), complex_grad(f, A), rtol=1e-5, atol=1e-6)


def test_holomorphic_det_derivative_is_cofactor_matrix():
    # d det(Z) / dZ = det(Z) Z^-T, holomorphic: grad with holomorphic=True gives it
    got = grad(np.linalg.det, holomorphic=True)(A)
    np.testing.assert_allclose(got, np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-10)


REAL_ONLY = {
    "slogdet": lambda z: np.linalg.slogdet(z)[1],
    "svd": lambda z: np.sum(np.linalg.svd(z, compute_uv=False)),
    "eigh": lambda z: np.sum(np.linalg.eigvalsh(herm(z)) ** 3),
    "cholesky": lambda z: np.sum(np.abs(np.linalg.cholesky(herm(z))) ** 2),
    "qr": lambda z: np.sum(np.abs(np.linalg.qr(z)[1]) ** 2),
}


@pytest.mark.parametrize("name", sorted(REAL_ONLY))
@pytest.mark.parametrize("transform", ["grad", "jacobian", "vjp", "jvp"])
def test_rules_for_real_matrices_refuse_complex_ones_in_every_transformation(name, transform):
    f = REAL_ONLY[name]
    with pytest.raises(UnsupportedError, match=rf"np\.linalg\.{name}.*real matrices only"):
        if transform == "grad":
            grad(f)(A)
        elif transform == "jacobian":
            jacobian(f)(A)
        elif transform == "vjp":
            vjp(f, A)[1](np.float64(1.0))
        else:
            jvp(f, (A,), (np.ones_like(A),))


@pytest.mark.parametrize("name", sorted(REAL_ONLY))
def test_the_same_functions_of_real_matrices_differentiate(name):
    real = np.real(A)
    f = REAL_ONLY[name]
    np.testing.assert_allclose(grad(f)(real), complex_grad(f, real.astype(complex)).real,
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_digamma_of_complex_values_has_values_but_no_derivative():
    sc = pytest.importorskip("scipy.special")
    z = np.array([1.0 + 1.0j, 2.0 - 0.5j])
    np.testing.assert_allclose(trace(sc.digamma)(z), sc.digamma(z))
    with pytest.raises(UnsupportedError, match="polygamma of complex values"):
        grad(lambda z: np.sum(np.abs(sc.digamma(z))))(z)
