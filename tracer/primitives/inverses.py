"""Inverses and determinants: ``np.linalg`` inv, solve, pinv, det, slogdet, matrix_power.

Each ``np.linalg`` routine is a primitive lowered to the same ``np.linalg`` call
in generated code, batched over leading axes as NumPy batches it. Operands are
first cast to NumPy's linalg dtype (integers and booleans to float64, float32
stays float32; float16 is refused, as NumPy refuses it), so the rules see
floating-point values only. The derivatives are the standard ones, written
with traceable ops:

- ``inv``: ``dY = -Y dA Y``; gradient ``-Y^T G Y^T``.
- ``solve`` (``X = A^-1 B``): ``dX = A^-1 (dB - dA X)``; gradients
  ``gB = A^-T G`` (the adjoint solve) and ``gA = -gB X^T``.
- ``det``: ``d det = det * tr(A^-1 dA)``; gradient ``det * A^-T``.
- ``slogdet``: two primitives, one per output (the IR has one value per node):
  ``slogdet_sign`` (piecewise constant: no gradient) and ``slogdet_logabsdet``
  (gradient ``A^-T``).
- ``pinv`` (Golub and Pereyra, for a matrix of constant rank):
  ``dA+ = -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+``.
- ``matrix_power`` is a composite: NumPy's own sequence of products (and one
  ``inv`` for negative powers), so its value is NumPy's bit for bit.

Under ``vmap`` the batch axis joins the stack (``batching.MATRIX_STACK``); ``solve``
turns a batch of vectors ``b`` into one-column matrices first, since NumPy reads
``b`` as a vector only when it is 1-D.

At a singular matrix, ``det``, ``slogdet`` and ``inv`` have no inverse to
build their derivative from: the gradient evaluation raises NumPy's
``LinAlgError`` (docs/derivatives.md).
"""

from __future__ import annotations

import operator

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import linalg as la
from tracer.primitives import reductions as red
from tracer.primitives import shape_ops as so
from tracer.primitives.base import Primitive, add_tangents, avals_str, real_dtype, real_only
from tracer.primitives.batching import MATRIX_STACK, align_stacks, per_example_ndim
from tracer.primitives.contractions import strong
from tracer.staging import Tracer, find_trace

# ----- dtypes and shapes (shared by the decompositions) -----


def linalg_dtype(op: str, *dtypes) -> np.dtype:
    """NumPy's ``np.linalg`` result dtype: float32 (complex64) stays, anything else
    inexact widens to double, integers and booleans compute in float64; float16 fails."""
    single, is_complex = True, False
    for dt in map(np.dtype, dtypes):
        if dt.kind in "fc":
            is_complex |= dt.kind == "c"
            if dt.itemsize in (8, 16):
                single = False
            elif dt not in (np.float32, np.complex64):
                raise TracegradError(f"{op}: array type {dt.name} is unsupported in linalg")
        else:
            single = False
    if is_complex:
        return np.dtype(np.complex64 if single else np.complex128)
    return np.dtype(np.float32 if single else np.float64)


def as_linalg(op: str, *xs):
    """Operands cast to their common ``np.linalg`` dtype (traced or NumPy arrays)."""
    xs = [strong(x) for x in xs]
    dt = linalg_dtype(op, *(x.dtype for x in xs))
    return [x if x.dtype == dt else ew.astype(x, dt) for x in xs]


def square_rule(op: str, *, min_ndim: int = 2):
    """Shape rule of an op on stacks of square matrices: ``(..., n, n) -> shape_fn``."""

    def check(a):
        if a.ndim < min_ndim or a.shape[-1] != a.shape[-2]:
            raise ShapeError(
                f"{op}: expected a stack of square matrices (..., n, n), got {avals_str(a)}"
            )

    return check


def mT(x):
    """The matrix transpose of a stack of matrices."""
    return so.swapaxes(x, -1, -2)


def matmul(*xs):
    """A chain of matrix products, left to right."""
    out = xs[0]
    for x in xs[1:]:
        out = la.matmul(out, x)
    return out


def scalar_mat(s):
    """``s[..., None, None]``: a per-matrix scalar that broadcasts against the matrices."""
    return so.expand_dims(s, (-1, -2))


def _lowering(call: str):
    return lambda a, p, lit: f"np.linalg.{call}({a[0]})"


# ----- inv -----


def _inv_rule(a):
    square_rule("inv")(a)
    return a.shape, a.dtype


inv_p = Primitive(
    "inv", np.linalg.inv, _inv_rule, 1,
    vjp=lambda gy, x, y: (ew.neg(matmul(mT(y), gy, mT(y))),),
    jvp=lambda ts, x, y: ew.neg(matmul(y, ts[0], y)),
    fresh=True, batch=MATRIX_STACK, lower=_lowering("inv"), doc="np.linalg.inv",
)  # fmt: skip


# ----- solve -----


def _solve_rule(a, b):
    square_rule("solve")(a)
    m = a.shape[-1]
    if b.ndim == 1:
        if b.shape[0] != m:
            raise ShapeError(f"solve: {avals_str(a, b)}: b has {b.shape[0]} rows, not {m}")
        return a.shape[:-1], a.dtype
    if b.ndim < 2 or b.shape[-2] != m:
        raise ShapeError(f"solve: {avals_str(a, b)}: b must be (m,) or (..., m, k), m = {m}")
    try:
        batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise ShapeError(f"solve: batch dimensions do not broadcast: {avals_str(a, b)}") from None
    return batch + b.shape[-2:], np.result_type(a.dtype, b.dtype)


def _solve_vjp(gy, a, b, y):
    vector = b.ndim == 1
    g = so.expand_dims(gy, -1) if vector else gy
    x = so.expand_dims(y, -1) if vector else y
    gb = solve(mT(a), g)
    ga = ew.neg(la.matmul(gb, mT(x)))
    return ga, so.squeeze(gb, -1) if vector else gb


def _solve_jvp(ts, a, b, y):
    vector = b.ndim == 1
    x = so.expand_dims(y, -1) if vector else y
    ta = None if ts[0] is None else ew.neg(la.matmul(ts[0], x))
    tb = None if ts[1] is None else (so.expand_dims(ts[1], -1) if vector else ts[1])
    dx = solve(a, add_tangents(tb, ta))
    return so.squeeze(dx, -1) if vector else dx


def _solve_batch(args, dims):
    """Stacks aligned; a batch of vectors ``b`` (NumPy reads a 1-D ``b`` alone as a vector)
    is solved as a stack of one-column matrices."""
    (a, b), (da, db) = args, dims
    if db is not None and per_example_ndim(b, db) == 1:
        b = so.expand_dims(so.moveaxis(b, db, 0), -1)
        (a, b), out_dim = align_stacks([a, b], [da, 0], (2, 2))
        return so.squeeze(solve_p.bind(a, b), -1), out_dim
    (a, b), out_dim = align_stacks([a, b], [da, db], (2, 1 if b.ndim == 1 else 2))
    return solve_p.bind(a, b), out_dim


solve_p = Primitive(
    "solve", np.linalg.solve, _solve_rule, 2, vjp=_solve_vjp, jvp=_solve_jvp,
    batch=lambda args, dims: _solve_batch(args, dims), fresh=True,
    lower=lambda a, p, lit: f"np.linalg.solve({a[0]}, {a[1]})",
    doc="np.linalg.solve (b a vector when 1-D, else a stack of matrices)",
)  # fmt: skip


# ----- det and slogdet -----


def _det_rule(a):
    square_rule("det")(a)
    return a.shape[:-2], a.dtype


def _trace_solve(a, t):
    """``tr(A^-1 T)`` per matrix of the stack."""
    s = solve(a, t)
    return red.sum(so.getitem(s, (..., *np.diag_indices(a.shape[-1]))), axis=-1)


det_p = Primitive(
    "det", np.linalg.det, _det_rule, 1,
    vjp=lambda gy, x, y: (ew.mul(scalar_mat(ew.mul(gy, y)), mT(inv(x))),),
    jvp=lambda ts, x, y: ew.mul(y, _trace_solve(x, ts[0])),
    fresh=True, batch=MATRIX_STACK, lower=_lowering("det"), doc="np.linalg.det",
)  # fmt: skip
slogdet_sign_p = Primitive(
    "slogdet_sign", lambda a: np.linalg.slogdet(a).sign, _det_rule, 1, zero_grad=True,
    fresh=True, batch=MATRIX_STACK,
    lower=lambda a, p, lit: f"np.linalg.slogdet({a[0]}).sign",
    doc="the sign output of np.linalg.slogdet",
)  # fmt: skip


def _logabsdet_rule(a):
    shape, dtype = _det_rule(a)
    return shape, real_dtype(dtype)


def _logabsdet_vjp(gy, x, y):
    real_only("np.linalg.slogdet", x)
    return (ew.mul(scalar_mat(gy), mT(inv(x))),)


def _logabsdet_jvp(ts, x, y):
    real_only("np.linalg.slogdet", x)
    return _trace_solve(x, ts[0])


slogdet_logabsdet_p = Primitive(
    "slogdet_logabsdet", lambda a: np.linalg.slogdet(a).logabsdet, _logabsdet_rule, 1,
    vjp=_logabsdet_vjp, jvp=_logabsdet_jvp, fresh=True, batch=MATRIX_STACK,
    lower=lambda a, p, lit: f"np.linalg.slogdet({a[0]}).logabsdet",
    doc="the logabsdet output of np.linalg.slogdet",
)  # fmt: skip


# ----- pinv -----


def _pinv_impl(a, rcond, hermitian):
    return np.linalg.pinv(a, rcond=rcond, hermitian=hermitian)


def _pinv_rule(a, rcond, hermitian):
    if a.ndim < 2:
        raise ShapeError(f"pinv: expected a stack of matrices (..., m, n), got {avals_str(a)}")
    if hermitian:
        square_rule("pinv")(a)
    return a.shape[:-2] + (a.shape[-1], a.shape[-2]), a.dtype


def _sym(g):
    return ew.mul(ew.add(g, mT(g)), 0.5)


def _pinv_vjp(gy, x, y, rcond, hermitian):
    # the transpose of the jvp: -Y^T G Y^T + (I - A Y) G^T Y Y^T + Y^T Y G^T (I - Y A)
    yt, gt = mT(y), mT(gy)
    left = ew.sub(np.eye(x.shape[-2], dtype=x.dtype), la.matmul(x, y))  # I - A A+ (m x m)
    right = ew.sub(np.eye(x.shape[-1], dtype=x.dtype), la.matmul(y, x))  # I - A+ A (n x n)
    g = ew.add(
        ew.neg(matmul(yt, gy, yt)),
        ew.add(matmul(left, gt, y, yt), matmul(yt, y, gt, right)),
    )
    return (_sym(g) if hermitian else g,)


def _pinv_jvp(ts, x, y, rcond, hermitian):
    t = _sym(ts[0]) if hermitian else ts[0]
    yt, tt = mT(y), mT(t)
    left = ew.sub(np.eye(x.shape[-1], dtype=x.dtype), la.matmul(y, x))  # I - A+ A (n x n)
    right = ew.sub(np.eye(x.shape[-2], dtype=x.dtype), la.matmul(x, y))  # I - A A+ (m x m)
    return ew.add(
        ew.neg(matmul(y, t, y)), ew.add(matmul(y, yt, tt, right), matmul(left, tt, yt, y))
    )


pinv_p = Primitive(
    "pinv", _pinv_impl, _pinv_rule, 1, ("rcond", "hermitian"), vjp=_pinv_vjp, jvp=_pinv_jvp,
    fresh=True, batch=MATRIX_STACK,
    lower=lambda a, p, lit: (
        f"np.linalg.pinv({a[0]}, rcond={lit.value(float(p['rcond']))}, "
        f"hermitian={lit.value(bool(p['hermitian']))})"
    ),
    doc="np.linalg.pinv (rcond resolved to a number at trace time)",
)  # fmt: skip

PRIMITIVES = (inv_p, solve_p, det_p, slogdet_sign_p, slogdet_logabsdet_p, pinv_p)


# ----- results with NumPy's field names -----


def result_type(name: str, fields: tuple[str, ...]) -> type:
    """A tuple with NumPy's field names as properties (``w, v = eigh(a)`` and
    ``eigh(a).eigenvalues`` both work). Not a namedtuple, so a traced function may
    return it: it comes back as a plain tuple."""

    def new(cls, *values):
        return tuple.__new__(cls, values)

    ns = {"__slots__": (), "__new__": new, "__doc__": f"{name}({', '.join(fields)})"}
    ns.update({f: property(operator.itemgetter(i)) for i, f in enumerate(fields)})
    return type(name, (tuple,), ns)


SlogdetResult = result_type("SlogdetResult", ("sign", "logabsdet"))


# ----- user-facing functions -----


def inv(a):
    if find_trace((a,)) is None:
        return np.linalg.inv(a)
    (a,) = as_linalg("inv", a)
    return inv_p.bind(a)


def solve(a, b):
    if find_trace((a, b)) is None:
        return np.linalg.solve(a, b)
    a, b = as_linalg("solve", a, b)
    return solve_p.bind(a, b)


def det(a):
    if find_trace((a,)) is None:
        return np.linalg.det(a)
    (a,) = as_linalg("det", a)
    return det_p.bind(a)


def slogdet(a):
    if find_trace((a,)) is None:
        return np.linalg.slogdet(a)
    (a,) = as_linalg("slogdet", a)
    return SlogdetResult(slogdet_sign_p.bind(a), slogdet_logabsdet_p.bind(a))


def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    if find_trace((a,)) is None:
        return np.linalg.pinv(a, rcond=rcond, hermitian=hermitian, rtol=rtol)
    (a,) = as_linalg("pinv", a)
    if isinstance(rcond, Tracer):  # a float read from a closure: asked for concretely, frozen
        rcond = float(rcond)
    if rcond is None:  # NumPy's defaults, resolved now: the graph holds a number
        if rtol is np._NoValue:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(a.shape[-2:]) * np.finfo(a.dtype).eps
        else:
            rcond = rtol
    elif rtol is not np._NoValue:
        raise TracegradError(f"pinv: `rtol` and `rcond` can't be both set ({user_location()})")
    if np.ndim(rcond):
        raise UnsupportedError(
            f"np.linalg.pinv with an array rcond is not supported (at {user_location()})"
        )
    return pinv_p.bind(a, rcond=float(rcond), hermitian=bool(hermitian))


def matrix_power(a, n):
    """``np.linalg.matrix_power``: NumPy's sequence of products (binary powering)."""
    if find_trace((a,)) is None:
        return np.linalg.matrix_power(a, n)
    a = strong(a)
    square_rule("matrix_power")(a)
    try:
        n = operator.index(n)
    except TypeError:
        raise TracegradError(f"matrix_power: exponent must be an integer, got {n!r}") from None
    if n == 0:
        return np.broadcast_to(np.eye(a.shape[-2], dtype=a.dtype), a.shape).copy()
    if n < 0:
        a, n = inv(a), -n
    if n == 1:
        return a
    if n in (2, 3):
        return la.matmul(a, a) if n == 2 else la.matmul(la.matmul(a, a), a)
    z = result = None
    while n > 0:
        z = a if z is None else la.matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else la.matmul(result, z)
    return result


NUMPY = {
    np.linalg.inv: inv, np.linalg.solve: solve, np.linalg.det: det, np.linalg.slogdet: slogdet,
    np.linalg.pinv: pinv, np.linalg.matrix_power: matrix_power,
}  # fmt: skip
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["det", "inv", "matrix_power", "pinv", "slogdet", "solve"]
