"""Linear algebra: the ``matmul`` primitive (NumPy semantics, batched, 1-D; with its
derivatives) and dot, outer."""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError
from tracer.primitives import elementwise as ew
from tracer.primitives import shape_ops as so
from tracer.primitives.base import Primitive, add_tangents, avals_str, result_dtype
from tracer.primitives.batching import batch_size, per_example_ndim
from tracer.staging import Tracer, bind, find_trace


def _matmul_rule(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must be at least 1-D, got {avals_str(a, b)}")
    n_a = a.shape[-1]
    n_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if n_a != n_b:
        raise ShapeError(
            f"matmul: inner dimensions do not match: {avals_str(a, b)} ({n_a} != {n_b})"
        )
    batch_a = a.shape[:-2]
    batch_b = b.shape[:-2]
    try:
        batch = tuple(np.broadcast_shapes(batch_a, batch_b))
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions do not broadcast: {avals_str(a, b)}") from None
    shape = batch + (a.shape[-2:-1] if a.ndim >= 2 else ()) + (b.shape[-1:] if b.ndim >= 2 else ())
    return shape, result_dtype(np.matmul, (a.dtype, b.dtype))


# ----- linear algebra -----
matmul_p = Primitive(
    "matmul", np.matmul, _matmul_rule, 2,
    vjp=lambda gy, x0, x1, y: _matmul_vjp(gy, x0, x1),
    jvp=lambda ts, x0, x1, y: add_tangents(
        None if ts[0] is None else matmul(ts[0], x1), None if ts[1] is None else matmul(x0, ts[1])
    ),
    batch=lambda args, dims: _matmul_batch(args, dims),
    ufunc="matmul", ufunc_out="keyword", fresh=True,  # a BLAS call: out= reads better there
    array_api="matmul",
)  # fmt: skip


def _matmul_vjp(gy, x0, x1):
    if x0.ndim == 1 and x1.ndim == 1:
        return ew.mul(gy, x1), ew.mul(gy, x0)
    if x0.ndim == 1:  # (n,) @ (..., n, m) -> (..., m)
        g0 = so.squeeze(matmul(x1, so.expand_dims(gy, -1)), -1)
        g1 = ew.mul(so.expand_dims(x0, -1), so.expand_dims(gy, -2))
        return g0, g1
    if x1.ndim == 1:  # (..., k, n) @ (n,) -> (..., k)
        g0 = ew.mul(so.expand_dims(gy, -1), x1)
        g1 = so.squeeze(matmul(so.swapaxes(x0, -1, -2), so.expand_dims(gy, -1)), -1)
        return g0, g1
    return matmul(gy, so.swapaxes(x1, -1, -2)), matmul(so.swapaxes(x0, -1, -2), gy)


def _matmul_batch(args, dims):
    """matmul of a batch: a batch of vectors is a matrix, a batch axis among the leading
    (stacked) axes stays; otherwise batch axes go first, vectors become matrices."""
    (a, b), (da, db) = args, dims
    ra, rb = per_example_ndim(a, da), per_example_ndim(b, db)
    if db is None and ra == 1:  # rows: (batch, n) @ b
        return bind(matmul_p, so.moveaxis(a, da, 0), b), max(rb - 2, 0)
    if da is None and rb == 1:  # columns: a @ (n, batch)
        return bind(matmul_p, a, so.moveaxis(b, db, 1)), ra - 1
    if db is None and da < a.ndim - 2 and max(rb - 2, 0) <= a.ndim - 3 - da:
        return bind(matmul_p, a, b), da
    if da is None and db < b.ndim - 2 and max(ra - 2, 0) <= b.ndim - 3 - db:
        return bind(matmul_p, a, b), db
    size, lead = batch_size(args, dims), max(ra - 2, rb - 2, 0)

    def prepare(x, d, r, vector_axis):
        x = so.moveaxis(x, d, 0)
        if r == 1:
            x = so.expand_dims(x, vector_axis)
        return so.reshape(x, (size,) + (1,) * (lead + 3 - x.ndim) + x.shape[1:])  # pad stacks

    a2 = a if da is None else prepare(a, da, ra, 1)
    b2 = b if db is None else prepare(b, db, rb, 2)
    out = bind(matmul_p, a2, b2)
    n = out.ndim
    squeezed = ((n - 1,) if db is not None and rb == 1 else ()) + (
        (n - 2,) if da is not None and ra == 1 else ()
    )
    return (so.squeeze(out, squeezed) if squeezed else out), 0


PRIMITIVES = (matmul_p,)


def matmul(a, b):
    if find_trace((a, b)) is None:
        return np.matmul(a, b)
    a, b = ew.promote("matmul", (a, b))
    return bind(matmul_p, a, b)


def dot(a, b, out=None):
    """``np.dot``: a product for 0-d operands, ``matmul`` up to 2-D, a tensor contraction beyond."""
    if find_trace((a, b)) is None:
        return np.dot(a, b)
    a = a if isinstance(a, Tracer) else np.asarray(a)
    b = b if isinstance(b, Tracer) else np.asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return ew.mul(a, b)
    n, m = a.shape[-1], b.shape[0 if b.ndim == 1 else -2]
    if n != m:
        raise ShapeError(f"dot: shapes {a.shape} and {b.shape} not aligned: {n} != {m}")
    if b.ndim <= 2 and a.ndim <= 2 or b.ndim == 1:
        return matmul(a, b)
    # dot(a, b)[i.., j.., m] = sum_n a[i.., n] * b[j.., n, m]
    bt = so.reshape(so.moveaxis(b, -2, 0), (n, -1))
    out_shape = a.shape[:-1] + b.shape[:-2] + b.shape[-1:]
    return so.reshape(matmul(so.reshape(a, (-1, n)), bt), out_shape)


def outer(a, b, out=None):
    return ew.mul(so.reshape(a, (-1, 1)), so.reshape(b, (1, -1)))


NUMPY = {np.matmul: matmul, np.dot: dot, np.outer: outer}
METHODS = {"dot": dot}
ATTRIBUTES: dict = {}

__all__ = ["dot", "matmul", "outer"]
