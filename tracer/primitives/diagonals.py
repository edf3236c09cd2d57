"""Diagonals and triangles of matrices: diagonal, trace, diag, diagflat, triu, tril.

All are composites of primitives that already carry their derivatives, so they
declare no primitive of their own: ``diagonal`` is indexing with two constant
index arrays (``a[..., rows, cols]`` after moving the two axes last), whose
adjoint scatter-adds; ``trace`` sums a diagonal; ``diag`` of a vector
scatter-adds it onto a zero matrix (``scatter_add``, ``getitem``'s adjoint);
``triu``/``tril`` select with a constant ``np.tri`` mask, as NumPy writes them.
Constant masks built with ``np.eye``, ``np.tri`` or ``np.identity`` inside traced
code are plain NumPy arrays and need nothing from here.
"""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import reductions as red
from tracer.primitives import shape_ops as so
from tracer.primitives.base import normalize_axis
from tracer.primitives.contractions import strong
from tracer.staging import find_trace

PRIMITIVES = ()


def _diagonal_index(n1: int, n2: int, offset: int):
    """Row and column indices of diagonal ``offset`` of an ``n1 x n2`` matrix."""
    length = max(0, min(n1 - max(0, -offset), n2 - max(0, offset)))
    k = np.arange(length, dtype=np.intp)
    return k + max(0, -offset), k + max(0, offset)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal``: the diagonal axis goes last, the other axes keep their order."""
    if find_trace((a,)) is None:
        return np.diagonal(a, offset, axis1, axis2)
    a = strong(a)
    if a.ndim < 2:
        raise ShapeError(
            f"diagonal: the array must have at least two dimensions, got shape {a.shape} "
            f"(at {user_location()})"
        )
    ax1 = normalize_axis("diagonal", axis1, a.ndim)
    ax2 = normalize_axis("diagonal", axis2, a.ndim)
    if ax1 == ax2:
        raise ShapeError(f"diagonal: axis1 and axis2 cannot be the same (at {user_location()})")
    rows, cols = _diagonal_index(a.shape[ax1], a.shape[ax2], int(offset))
    return so.getitem(so.moveaxis(a, (ax1, ax2), (-2, -1)), (..., rows, cols))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``np.trace``: the sum of a diagonal (integers sum as ``np.sum`` does)."""
    if find_trace((a,)) is None:
        return np.trace(a, offset, axis1, axis2, dtype, out)
    red._unsupported_kwargs("trace", out=out)
    return red.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v, k=0):
    """``np.diag``: the diagonal of a matrix, or a matrix with a vector on its diagonal."""
    if find_trace((v,)) is None:
        return np.diag(v, k)
    v = strong(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(
            f"diag: input must be 1- or 2-d, got shape {v.shape} (at {user_location()})"
        )
    n = v.shape[0] + abs(int(k))
    rows, cols = _diagonal_index(n, n, int(k))
    index = (("array", 0), ("array", 1))
    return so.scatter_add_p.bind(v, rows, cols, shape=(n, n), index=index)


def diagflat(v, k=0):
    """``np.diagflat``: ``diag`` of the flattened input."""
    if find_trace((v,)) is None:
        return np.diagflat(v, k)
    return diag(so.ravel(strong(v)), k)


def _tri(shape, k):
    return np.tri(*shape[-2:], k=k, dtype=bool)


def triu(m, k=0):
    """``np.triu``, as NumPy writes it: ``where(tri(k - 1), 0, m)``."""
    if find_trace((m,)) is None:
        return np.triu(m, k)
    m = strong(m)
    return ew.where(_tri(m.shape, int(k) - 1), np.zeros(1, m.dtype), m)


def tril(m, k=0):
    """``np.tril``, as NumPy writes it: ``where(tri(k), m, 0)``."""
    if find_trace((m,)) is None:
        return np.tril(m, k)
    m = strong(m)
    return ew.where(_tri(m.shape, int(k)), m, np.zeros(1, m.dtype))


def linalg_diagonal(x, /, *, offset=0):
    return diagonal(x, offset, -2, -1)


def linalg_trace(x, /, *, offset=0, dtype=None):
    return trace(x, offset, -2, -1, dtype)


NUMPY = {
    np.diagonal: diagonal, np.trace: trace, np.diag: diag, np.diagflat: diagflat,
    np.triu: triu, np.tril: tril, np.linalg.diagonal: linalg_diagonal,
    np.linalg.trace: linalg_trace,
}  # fmt: skip
METHODS = {"diagonal": diagonal, "trace": trace}
ATTRIBUTES: dict = {}

__all__ = ["diag", "diagflat", "diagonal", "tril", "trace", "triu"]
