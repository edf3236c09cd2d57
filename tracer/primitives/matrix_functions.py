"""Matrix functions: the matrix exponential ``expm`` (``scipy.linalg.expm``'s twin).

``expm`` is a primitive: its NumPy implementation is Higham's scaling and
squaring with Pade approximants of degree 3 to 13 (Higham 2005, as SciPy and
JAX use), batched over leading axes; the number of squarings depends on the
matrix's norm, a decision taken on concrete values, so it is one node rather
than a traced composite. float32 matrices are computed in float64 and returned
as float32. Generated code calls the implementation (``CALL_IMPL``): NumPy has
no ``expm`` and SciPy stays optional.

Its derivative is the Frechet derivative, read off the exponential of a block
matrix (Mathias 1996): ``expm([[A, E], [0, A]]) = [[expm(A), L(A, E)], [0, expm(A)]]``.
The jvp is ``L(A, dA)``, the gradient ``L(A^T, G)``; both are ``expm`` again, so
derivatives of any order trace. Under ``vmap`` the batch axis joins the stack
(``batching.MATRIX_STACK``).
"""

from __future__ import annotations

import math

import numpy as np

from tracer.primitives import shape_ops as so
from tracer.primitives.base import CALL_IMPL, Primitive
from tracer.primitives.batching import MATRIX_STACK
from tracer.primitives.inverses import as_linalg, mT, square_rule
from tracer.staging import find_trace

# (degree, largest 1-norm it is accurate for in double precision, coefficients)
_PADE = (
    (3, 1.495585217958292e-2, (120.0, 60.0, 12.0, 1.0)),
    (5, 2.539398330063230e-1, (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0)),
    (7, 9.504178996162932e-1,
     (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0)),
    (9, 2.097847961257068e0,
     (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0,
      110880.0, 3960.0, 90.0, 1.0)),
)  # fmt: skip
_THETA13 = 5.371920351148152
_B13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
        129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
        40840800.0, 960960.0, 16380.0, 182.0, 1.0)  # fmt: skip


def _pade(a, b):
    """(U, V) of the Pade approximant with coefficients ``b`` (odd and even parts)."""
    eye = np.eye(a.shape[-1])
    powers = [eye, a @ a]
    while len(powers) < (len(b) + 1) // 2:
        powers.append(powers[-1] @ powers[1])
    u = a @ sum(b[2 * k + 1] * p for k, p in enumerate(powers))
    v = sum(b[2 * k] * p for k, p in enumerate(powers))
    return u, v


def _pade13(a):
    b = _B13
    eye = np.eye(a.shape[-1])
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
             + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)  # fmt: skip
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    return u, v


def _expm_one(a):
    norm = np.linalg.norm(a, 1)
    for _, theta, b in _PADE:
        if norm <= theta:
            u, v = _pade(a, b)
            return np.linalg.solve(v - u, v + u)
    s = max(0, math.ceil(math.log2(norm / _THETA13))) if np.isfinite(norm) else 0
    u, v = _pade13(a / 2.0**s)
    x = np.linalg.solve(v - u, v + u)
    for _ in range(s):
        x = x @ x
    return x


def _expm_impl(a):
    a = np.asarray(a)
    work = a.astype(np.float64) if a.dtype == np.float32 else a
    out = np.empty_like(work)
    for idx in np.ndindex(work.shape[:-2]):
        out[idx] = _expm_one(work[idx])
    return out.astype(a.dtype, copy=False)


def _expm_rule(a):
    square_rule("expm")(a)
    return a.shape, a.dtype


def _frechet(a, e):
    """``L(A, E)``: the upper-right block of ``expm([[A, E], [0, A]])``."""
    n = a.shape[-1]
    zeros = np.zeros(a.shape, dtype=a.dtype)
    top = so.concatenate([a, e], axis=-1)
    bottom = so.concatenate([zeros, a], axis=-1)
    big = expm(so.concatenate([top, bottom], axis=-2))
    return big[..., :n, n:]


expm_p = Primitive(
    "expm", _expm_impl, _expm_rule, 1,
    vjp=lambda gy, x, y: (_frechet(mT(x), gy),), jvp=lambda ts, x, y: _frechet(x, ts[0]),
    fresh=True, lower=CALL_IMPL, batch=MATRIX_STACK,
    doc="the matrix exponential (scaling and squaring, Pade 13), as scipy.linalg.expm",
)  # fmt: skip

PRIMITIVES = (expm_p,)


def expm(a):
    """The matrix exponential of a (stack of) square matrices."""
    if find_trace((a,)) is None:
        (a,) = as_linalg("expm", np.asarray(a))
        return _expm_impl(a)
    (a,) = as_linalg("expm", a)
    return expm_p.bind(a)


NUMPY: dict = {}
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["expm"]
