"""Matrix decompositions: ``np.linalg`` cholesky, eigh, svd, qr (batched over leading axes).

**One primitive per output.** The IR has one value per node, and NumPy's
``eigh``, ``svd`` and ``qr`` return several arrays. Each output is its own
primitive, lowered to the ``np.linalg`` call that computes it and the field that
holds it: ``eigh_vectors`` is ``np.linalg.eigh(a, UPLO='L').eigenvectors``,
``svd_u`` is ``np.linalg.svd(a, full_matrices=False).U``. The user-facing
function binds one node per output and returns them in a tuple with NumPy's
field names (``w, v = np.linalg.eigh(a)`` and ``.eigenvalues`` both work).
Values alone are cheaper: ``eigh_values`` lowers to ``np.linalg.eigvalsh``
and ``svd_s`` to ``np.linalg.svd(a, compute_uv=False)``, so a program that
uses only eigenvalues or singular values never computes vectors. The price: a
program using several outputs runs the factorisation once per output it uses
(the optimiser merges equal nodes, so each at most once); the derivative rules
call the other outputs' primitives (``svd_s``'s rule reads ``U`` and ``Vh``).
The tuple keeps the choice out of user code: a later multi-output node could
replace it without changing any program.

**Derivatives** (real matrices; ``F_ij = 1/(w_j - w_i)`` off the diagonal, 0 on it):

- ``cholesky`` (Murray 2016, as JAX): ``dL = L Phi(L^-1 dA L^-T)``, ``Phi`` taking
  the lower triangle with the diagonal halved; gradient
  ``L^-T Phi(L^T G) L^-1``.
- ``eigh``: ``dw = diag(V^T dA V)``, ``dV = V (F o V^T dA V)``; needs distinct
  eigenvalues for ``V`` (repeated ones make ``F`` infinite).
- ``svd`` (reduced, ``k = min(m, n)``): with ``P = U^T dA V`` and
  ``F_ij = 1/(s_j^2 - s_i^2)``: ``ds = diag(P)``,
  ``dU = U (F o (P S + S P^T)) + (I - U U^T) dA V S^-1`` (when ``m > n``),
  ``dV = V (F o (S P + P^T S)) + (I - V V^T) dA^T U S^-1`` (when ``n > m``).
  ``U`` and ``Vh`` need distinct (and, for the last terms, non-zero) singular
  values; with ``full_matrices=True`` the extra columns of ``U`` (tall
  matrix) or rows of ``Vh`` (wide) are not unique and have no derivative:
  reverse mode raises, forward mode gives nan there.
- ``qr`` (reduced; ``m >= n``): ``gA = (gQ + Q copyltu(M)) R^-T`` with
  ``M = gR R^T - Q^T gQ``; a wide matrix ``[X | Y]`` is ``Q R_X`` and
  ``R_Y = Q^T Y``. ``mode='complete'`` of a tall matrix: ``Q``'s extra columns
  have no derivative (reverse mode raises, forward mode gives nan).

NumPy's ``cholesky`` and ``eigh`` read one triangle of the input. As JAX does,
the rules treat the input as symmetric: the tangent is symmetrised before use
and the gradient is symmetric, ``(G + G^T) / 2``, the derivative along
symmetric perturbations. docs/derivatives.md lists these conditions.

Under ``vmap`` the batch axis joins the stack (``batching.MATRIX_STACK``).
"""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import diagonals as dg
from tracer.primitives import elementwise as ew
from tracer.primitives import linalg as la
from tracer.primitives import reductions as red
from tracer.primitives import shape_ops as so
from tracer.primitives.base import Primitive, add_tangents, avals_str, real_dtype, real_only
from tracer.primitives.batching import MATRIX_STACK
from tracer.primitives.inverses import (
    as_linalg,
    matmul,
    mT,
    result_type,
    solve,
    square_rule,
)
from tracer.staging import find_trace

_UPLO = {"L": "'L'", "U": "'U'"}  # the only texts a lowering writes for UPLO
_QR_MODES = {"reduced": "'reduced'", "complete": "'complete'"}


def _sym(x):
    return ew.mul(ew.add(x, mT(x)), 0.5)


def _row(v):
    return so.expand_dims(v, -2)  # v[..., None, :]


def _col(v):
    return so.expand_dims(v, -1)  # v[..., :, None]


def _diag_part(x):
    """The diagonal of each matrix of a stack (last two axes)."""
    return dg.diagonal(x, 0, -2, -1)


def _gap_matrix(w, square: bool):
    """``F_ij = 1 / (w_j - w_i)`` (or ``1 / (w_j^2 - w_i^2)``) off the diagonal, 0 on it."""
    eye = np.eye(w.shape[-1], dtype=w.dtype)
    if square:
        w = ew.square(w)
    return ew.sub(ew.reciprocal(ew.add(eye, ew.sub(_row(w), _col(w)))), eye)


def _right_solve(x, r):
    """``X R^-1`` for a stack of invertible ``R`` (a solve with the transpose)."""
    return mT(solve(mT(r), mT(x)))


# ----- cholesky -----


def _cholesky_impl(a, upper):
    return np.linalg.cholesky(a, upper=upper)


def _cholesky_rule(a, upper):
    square_rule("cholesky")(a)
    return a.shape, a.dtype


def _phi(x):
    """The lower triangle of ``x`` with its diagonal halved."""
    n = x.shape[-1]
    mask = np.tril(np.ones((n, n), dtype=x.dtype)) - 0.5 * np.eye(n, dtype=x.dtype)
    return ew.mul(x, mask)


def _cholesky_jvp(ts, x, y, upper):
    real_only("np.linalg.cholesky", x)
    low = mT(y) if upper else y
    inner = _right_solve(solve(low, _sym(ts[0])), mT(low))  # L^-1 dA L^-T
    dl = la.matmul(low, _phi(inner))
    return mT(dl) if upper else dl


def _cholesky_vjp(gy, x, y, upper):
    real_only("np.linalg.cholesky", x)
    low, g = (mT(y), mT(gy)) if upper else (y, gy)
    p = _phi(la.matmul(mT(low), g))
    return (_sym(_right_solve(solve(mT(low), p), low)),)  # L^-T Phi(L^T G) L^-1


cholesky_p = Primitive(
    "cholesky", _cholesky_impl, _cholesky_rule, 1, ("upper",),
    vjp=_cholesky_vjp, jvp=_cholesky_jvp, fresh=True, batch=MATRIX_STACK,
    lower=lambda a, p, lit: f"np.linalg.cholesky({a[0]}, upper={lit.value(bool(p['upper']))})",
    doc="np.linalg.cholesky (reads one triangle; symmetric derivative)",
)  # fmt: skip


# ----- eigh -----


def _eigh_values_impl(a, UPLO):  # noqa: N803  (NumPy's name)
    return np.linalg.eigvalsh(a, UPLO=UPLO)


def _eigh_vectors_impl(a, UPLO):  # noqa: N803
    return np.linalg.eigh(a, UPLO=UPLO).eigenvectors


def _eigh_rule(values: bool):
    def rule(a, UPLO):  # noqa: N803
        square_rule("eigh")(a)
        if UPLO not in _UPLO:
            raise ShapeError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        return (a.shape[:-1], real_dtype(a.dtype)) if values else (a.shape, a.dtype)

    return rule


def _eigh_values_vjp(gy, x, y, UPLO):  # noqa: N803
    real_only("np.linalg.eigh", x)
    v = eigh_vectors_p.bind(x, UPLO=UPLO)
    return (la.matmul(ew.mul(v, _row(gy)), mT(v)),)  # V diag(g) V^T


def _eigh_values_jvp(ts, x, y, UPLO):  # noqa: N803
    real_only("np.linalg.eigh", x)
    v = eigh_vectors_p.bind(x, UPLO=UPLO)
    return red.sum(ew.mul(v, la.matmul(_sym(ts[0]), v)), axis=-2)  # diag(V^T dA V)


def _eigh_vectors_vjp(gy, x, y, UPLO):  # noqa: N803
    real_only("np.linalg.eigh", x)
    f = _gap_matrix(eigh_values_p.bind(x, UPLO=UPLO), False)
    return (_sym(matmul(y, ew.mul(f, la.matmul(mT(y), gy)), mT(y))),)


def _eigh_vectors_jvp(ts, x, y, UPLO):  # noqa: N803
    real_only("np.linalg.eigh", x)
    f = _gap_matrix(eigh_values_p.bind(x, UPLO=UPLO), False)
    return la.matmul(y, ew.mul(f, matmul(mT(y), _sym(ts[0]), y)))


def _uplo_lowering(call, field=""):
    return lambda a, p, lit: f"np.linalg.{call}({a[0]}, UPLO={_UPLO[p['UPLO']]}){field}"


eigh_values_p = Primitive(
    "eigh_values", _eigh_values_impl, _eigh_rule(True), 1, ("UPLO",),
    vjp=_eigh_values_vjp, jvp=_eigh_values_jvp, fresh=True, batch=MATRIX_STACK,
    lower=_uplo_lowering("eigvalsh"),
    doc="the eigenvalues of np.linalg.eigh (np.linalg.eigvalsh)",
)  # fmt: skip
eigh_vectors_p = Primitive(
    "eigh_vectors", _eigh_vectors_impl, _eigh_rule(False), 1, ("UPLO",),
    vjp=_eigh_vectors_vjp, jvp=_eigh_vectors_jvp, fresh=True, batch=MATRIX_STACK,
    lower=_uplo_lowering("eigh", ".eigenvectors"),
    doc="the eigenvectors of np.linalg.eigh (distinct eigenvalues for a derivative)",
)  # fmt: skip


# ----- svd -----


def _svd_s_impl(a, hermitian):
    return np.linalg.svd(a, compute_uv=False, hermitian=hermitian)


def _svd_u_impl(a, full_matrices, hermitian):
    return np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian).U


def _svd_vh_impl(a, full_matrices, hermitian):
    return np.linalg.svd(a, full_matrices=full_matrices, hermitian=hermitian).Vh


def _svd_check(a, hermitian):
    if a.ndim < 2:
        raise ShapeError(f"svd: expected a stack of matrices (..., m, n), got {avals_str(a)}")
    if hermitian:
        square_rule("svd")(a)


def _svd_s_rule(a, hermitian):
    _svd_check(a, hermitian)
    return a.shape[:-2] + (min(a.shape[-2:]),), real_dtype(a.dtype)


def _svd_uv_rule(which):
    def rule(a, full_matrices, hermitian):
        _svd_check(a, hermitian)
        m, n = a.shape[-2:]
        k = min(m, n)
        if which == "U":
            return a.shape[:-2] + (m, m if full_matrices else k), a.dtype
        return a.shape[:-2] + (n if full_matrices else k, n), a.dtype

    return rule


def _svd_parts(x, hermitian):
    """(U, s, V) of the reduced SVD, each a node of its own primitive."""
    u = svd_u_p.bind(x, full_matrices=False, hermitian=hermitian)
    vh = svd_vh_p.bind(x, full_matrices=False, hermitian=hermitian)
    return u, svd_s_p.bind(x, hermitian=hermitian), mT(vh)


def _reduced_only(x, full_matrices, what):
    m, n = x.shape[-2:]
    if full_matrices and (m > n if what == "U" else n > m):
        raise UnsupportedError(
            f"svd: the derivative of {what} with full_matrices=True is not defined for a "
            f"non-square matrix ({m} x {n}: the extra columns are not unique); use "
            f"np.linalg.svd(a, full_matrices=False) (at {user_location()})"
        )


def _svd_s_vjp(gy, x, y, hermitian):
    real_only("np.linalg.svd", x)
    u, _, v = _svd_parts(x, hermitian)
    g = la.matmul(ew.mul(u, _row(gy)), mT(v))  # U diag(g) V^T
    return (_sym(g) if hermitian else g,)


def _svd_s_jvp(ts, x, y, hermitian):
    real_only("np.linalg.svd", x)
    u, _, v = _svd_parts(x, hermitian)
    t = _sym(ts[0]) if hermitian else ts[0]
    return red.sum(ew.mul(u, matmul(t, v)), axis=-2)  # diag(U^T dA V)


def _svd_u_vjp(gy, x, y, full_matrices, hermitian):
    real_only("np.linalg.svd", x)
    _reduced_only(x, full_matrices, "U")
    u, s, v = _svd_parts(x, hermitian)
    j = ew.mul(_gap_matrix(s, True), la.matmul(mT(u), gy))
    g = matmul(u, ew.mul(ew.add(j, mT(j)), _row(s)), mT(v))
    if x.shape[-2] > x.shape[-1]:  # (I - U U^T) gU S^-1 V^T
        rest = ew.sub(gy, matmul(u, mT(u), gy))
        g = ew.add(g, la.matmul(ew.div(rest, _row(s)), mT(v)))
    return (_sym(g) if hermitian else g,)


def _svd_vh_vjp(gy, x, y, full_matrices, hermitian):
    real_only("np.linalg.svd", x)
    _reduced_only(x, full_matrices, "Vh")
    u, s, v = _svd_parts(x, hermitian)
    gv = mT(gy)
    k = ew.mul(_gap_matrix(s, True), la.matmul(mT(v), gv))
    g = matmul(u, ew.mul(_col(s), ew.add(k, mT(k))), mT(v))
    if x.shape[-1] > x.shape[-2]:  # U S^-1 gV^T (I - V V^T)
        rest = ew.sub(gv, matmul(v, mT(v), gv))
        g = ew.add(g, la.matmul(u, mT(ew.div(rest, _row(s)))))
    return (_sym(g) if hermitian else g,)


def _svd_u_jvp(ts, x, y, full_matrices, hermitian):
    real_only("np.linalg.svd", x)
    du = _svd_u_reduced_jvp(ts, x, hermitian)
    m, n = x.shape[-2:]
    if full_matrices and m > n:  # the extra columns have no derivative: nan
        return so.concatenate([du, np.full(x.shape[:-2] + (m, m - n), np.nan, x.dtype)], -1)
    return du


def _svd_vh_jvp(ts, x, y, full_matrices, hermitian):
    real_only("np.linalg.svd", x)
    dvh = _svd_vh_reduced_jvp(ts, x, hermitian)
    m, n = x.shape[-2:]
    if full_matrices and n > m:  # the extra rows have no derivative: nan
        return so.concatenate([dvh, np.full(x.shape[:-2] + (n - m, n), np.nan, x.dtype)], -2)
    return dvh


def _svd_u_reduced_jvp(ts, x, hermitian):
    u, s, v = _svd_parts(x, hermitian)
    t = _sym(ts[0]) if hermitian else ts[0]
    p = matmul(mT(u), t, v)
    ps = ew.mul(p, _row(s))
    du = la.matmul(u, ew.mul(_gap_matrix(s, True), ew.add(ps, mT(ps))))
    if x.shape[-2] > x.shape[-1]:  # (I - U U^T) dA V S^-1
        tv = la.matmul(t, v)
        du = ew.add(du, ew.div(ew.sub(tv, matmul(u, mT(u), tv)), _row(s)))
    return du


def _svd_vh_reduced_jvp(ts, x, hermitian):
    u, s, v = _svd_parts(x, hermitian)
    t = _sym(ts[0]) if hermitian else ts[0]
    p = matmul(mT(u), t, v)
    sp = ew.mul(_col(s), p)
    dv = la.matmul(v, ew.mul(_gap_matrix(s, True), ew.add(sp, mT(sp))))
    if x.shape[-1] > x.shape[-2]:  # (I - V V^T) dA^T U S^-1
        tu = la.matmul(mT(t), u)
        dv = ew.add(dv, ew.div(ew.sub(tu, matmul(v, mT(v), tu)), _row(s)))
    return mT(dv)


def _svd_lowering(field):
    return lambda a, p, lit: (
        f"np.linalg.svd({a[0]}, full_matrices={lit.value(bool(p['full_matrices']))}, "
        f"hermitian={lit.value(bool(p['hermitian']))}).{field}"
    )


svd_s_p = Primitive(
    "svd_s", _svd_s_impl, _svd_s_rule, 1, ("hermitian",), vjp=_svd_s_vjp, jvp=_svd_s_jvp,
    fresh=True, batch=MATRIX_STACK,
    lower=lambda a, p, lit: (
        f"np.linalg.svd({a[0]}, compute_uv=False, hermitian={lit.value(bool(p['hermitian']))})"
    ),
    doc="the singular values of np.linalg.svd (np.linalg.svd(a, compute_uv=False))",
)  # fmt: skip
svd_u_p = Primitive(
    "svd_u", _svd_u_impl, _svd_uv_rule("U"), 1, ("full_matrices", "hermitian"),
    vjp=_svd_u_vjp, jvp=_svd_u_jvp, fresh=True, batch=MATRIX_STACK, lower=_svd_lowering("U"),
    doc="the U output of np.linalg.svd (distinct singular values for a derivative)",
)  # fmt: skip
svd_vh_p = Primitive(
    "svd_vh", _svd_vh_impl, _svd_uv_rule("Vh"), 1, ("full_matrices", "hermitian"),
    vjp=_svd_vh_vjp, jvp=_svd_vh_jvp, fresh=True, batch=MATRIX_STACK, lower=_svd_lowering("Vh"),
    doc="the Vh output of np.linalg.svd (distinct singular values for a derivative)",
)  # fmt: skip


# ----- qr -----


def _qr_q_impl(a, mode):
    return np.linalg.qr(a, mode=mode).Q


def _qr_r_impl(a, mode):
    return np.linalg.qr(a, mode=mode).R


def _qr_rule(which):
    def rule(a, mode):
        if a.ndim < 2:
            raise ShapeError(f"qr: expected a stack of matrices (..., m, n), got {avals_str(a)}")
        if mode not in _QR_MODES:
            raise ShapeError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}")
        m, n = a.shape[-2:]
        k = m if mode == "complete" else min(m, n)
        return a.shape[:-2] + ((m, k) if which == "Q" else (k, n)), a.dtype

    return rule


def _qr_parts(x):
    return qr_q_p.bind(x, mode="reduced"), qr_r_p.bind(x, mode="reduced")


def _extra_columns(x, mode) -> bool:
    """Q of mode='complete' has columns beyond the reduced ones (not unique: no derivative)."""
    return mode == "complete" and x.shape[-2] > x.shape[-1]


def _qr_q_vjp(gy, x, mode):
    real_only("np.linalg.qr", x)
    if _extra_columns(x, mode):
        m, n = x.shape[-2:]
        raise UnsupportedError(
            f"qr: the derivative of Q with mode='complete' is not defined for a tall matrix "
            f"({m} x {n}: the extra columns are not unique); use mode='reduced' "
            f"(at {user_location()})"
        )
    return (_qr_vjp(gy, None, x),)


def _qr_q_jvp(t, x, mode):
    real_only("np.linalg.qr", x)
    dq = _qr_jvp(t, x)[0]
    if not _extra_columns(x, mode):
        return dq
    m, n = x.shape[-2:]  # the extra columns have no derivative: nan
    return so.concatenate([dq, np.full(x.shape[:-2] + (m, m - n), np.nan, x.dtype)], axis=-1)


def _qr_r_vjp(gy, x, mode):
    real_only("np.linalg.qr", x)
    n = x.shape[-1]
    return (_qr_vjp(None, gy[..., :n, :] if _extra_columns(x, mode) else gy, x),)


def _qr_r_jvp(t, x, mode):
    real_only("np.linalg.qr", x)
    dr = _qr_jvp(t, x)[1]
    if not _extra_columns(x, mode):
        return dr
    m, n = x.shape[-2:]  # the rows below the reduced R are zeros
    return so.concatenate([dr, np.zeros(x.shape[:-2] + (m - n, n), x.dtype)], axis=-2)


def _qr_vjp(gq, gr, x):
    q, r = _qr_parts(x)
    m, n = x.shape[-2:]
    if m >= n:
        return _qr_square_vjp(gq, gr, q, r)
    # wide: A = [X | Y], R = [R_X | Q^T Y]
    y = x[..., m:]
    gr_x, gr_y = (None, None) if gr is None else (gr[..., :m], gr[..., m:])
    if gr_y is not None:
        gq = add_tangents(gq, la.matmul(y, mT(gr_y)))
    gx = _qr_square_vjp(gq, gr_x, q, r[..., :m])
    gy = np.zeros(y.shape, dtype=x.dtype) if gr_y is None else la.matmul(q, gr_y)
    return so.concatenate([gx, gy], axis=-1)


def _qr_square_vjp(gq, gr, q, r):
    """``(gQ + Q copyltu(M)) R^-T``, ``M = gR R^T - Q^T gQ``, for ``m >= n``."""
    terms = []
    if gr is not None:
        terms.append(la.matmul(gr, mT(r)))
    if gq is not None:
        terms.append(ew.neg(la.matmul(mT(q), gq)))
    mm = add_tangents(*terms)
    k = ew.add(dg.triu(mm), mT(dg.triu(mm, 1)))
    b = la.matmul(q, k) if gq is None else ew.add(gq, la.matmul(q, k))
    return _right_solve(b, mT(r))


def _qr_jvp(t, x):
    """(dQ, dR) of the reduced QR."""
    q, r = _qr_parts(x)
    m, n = x.shape[-2:]
    if m >= n:
        return _qr_square_jvp(t, q, r)
    dq, dr_x = _qr_square_jvp(t[..., :m], q, r[..., :m])
    dr_y = ew.add(la.matmul(mT(dq), x[..., m:]), la.matmul(mT(q), t[..., m:]))
    return dq, so.concatenate([dr_x, dr_y], axis=-1)


def _qr_square_jvp(t, q, r):
    s = _right_solve(t, r)  # dA R^-1
    c = la.matmul(mT(q), s)
    low = dg.tril(c, -1)
    omega = ew.sub(low, mT(low))
    dq = ew.add(la.matmul(q, ew.sub(omega, c)), s)
    return dq, la.matmul(ew.sub(c, omega), r)


def _qr_lowering(field):
    return lambda a, p, lit: f"np.linalg.qr({a[0]}, mode={_QR_MODES[p['mode']]}).{field}"


qr_q_p = Primitive(
    "qr_q", _qr_q_impl, _qr_rule("Q"), 1, ("mode",),
    vjp=lambda gy, x, y, mode: _qr_q_vjp(gy, x, mode),
    jvp=lambda ts, x, y, mode: _qr_q_jvp(ts[0], x, mode),
    fresh=True, batch=MATRIX_STACK, lower=_qr_lowering("Q"), doc="the Q output of np.linalg.qr",
)  # fmt: skip
qr_r_p = Primitive(
    "qr_r", _qr_r_impl, _qr_rule("R"), 1, ("mode",),
    vjp=lambda gy, x, y, mode: _qr_r_vjp(gy, x, mode),
    jvp=lambda ts, x, y, mode: _qr_r_jvp(ts[0], x, mode),
    fresh=True, batch=MATRIX_STACK, lower=_qr_lowering("R"), doc="the R output of np.linalg.qr",
)  # fmt: skip

PRIMITIVES = (cholesky_p, eigh_values_p, eigh_vectors_p, svd_s_p, svd_u_p, svd_vh_p,
              qr_q_p, qr_r_p)  # fmt: skip

EighResult = result_type("EighResult", ("eigenvalues", "eigenvectors"))
SVDResult = result_type("SVDResult", ("U", "S", "Vh"))
QRResult = result_type("QRResult", ("Q", "R"))


# ----- user-facing functions -----


def cholesky(a, /, *, upper=False):
    if find_trace((a,)) is None:
        return np.linalg.cholesky(a, upper=upper)
    (a,) = as_linalg("cholesky", a)
    return cholesky_p.bind(a, upper=bool(upper))


def _uplo(op, UPLO):  # noqa: N803
    uplo = str(UPLO).upper()
    if uplo not in _UPLO:
        raise ShapeError(
            f"{op}: UPLO argument must be 'L' or 'U', got {UPLO!r} ({user_location()})"
        )
    return uplo


def eigh(a, UPLO="L"):  # noqa: N803
    if find_trace((a,)) is None:
        return np.linalg.eigh(a, UPLO)
    (a,) = as_linalg("eigh", a)
    uplo = _uplo("eigh", UPLO)
    return EighResult(eigh_values_p.bind(a, UPLO=uplo), eigh_vectors_p.bind(a, UPLO=uplo))


def eigvalsh(a, UPLO="L"):  # noqa: N803
    if find_trace((a,)) is None:
        return np.linalg.eigvalsh(a, UPLO)
    (a,) = as_linalg("eigvalsh", a)
    return eigh_values_p.bind(a, UPLO=_uplo("eigvalsh", UPLO))


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if find_trace((a,)) is None:
        return np.linalg.svd(a, full_matrices, compute_uv, hermitian)
    (a,) = as_linalg("svd", a)
    s = svd_s_p.bind(a, hermitian=bool(hermitian))
    if not compute_uv:
        return s
    params = {"full_matrices": bool(full_matrices), "hermitian": bool(hermitian)}
    return SVDResult(svd_u_p.bind(a, **params), s, svd_vh_p.bind(a, **params))


def svdvals(x, /):
    return svd(x, compute_uv=False)


def qr(a, mode="reduced"):
    if find_trace((a,)) is None:
        return np.linalg.qr(a, mode)
    (a,) = as_linalg("qr", a)
    if mode == "r":
        return qr_r_p.bind(a, mode="reduced")
    if mode not in _QR_MODES:
        raise UnsupportedError(
            f"np.linalg.qr(mode={mode!r}) is not supported when tracing (at {user_location()}); "
            "use 'reduced', 'complete' or 'r'"
        )
    return QRResult(qr_q_p.bind(a, mode=mode), qr_r_p.bind(a, mode=mode))


NUMPY = {
    np.linalg.cholesky: cholesky, np.linalg.eigh: eigh, np.linalg.eigvalsh: eigvalsh,
    np.linalg.svd: svd, np.linalg.svdvals: svdvals, np.linalg.qr: qr,
}  # fmt: skip
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["cholesky", "eigh", "eigvalsh", "qr", "svd", "svdvals"]
