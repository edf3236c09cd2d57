"""Norms: ``np.linalg.norm``, ``vector_norm`` and ``matrix_norm``, as NumPy computes them.

Composites of existing primitives, following NumPy's own code path for each
``ord`` and ``axis`` (``sqrt(dot(x, x))`` for the default norm of a whole
array, ``sqrt(sum(x * x))`` along axes, ``max(sum(|x|))`` for matrix 1- and
inf-norms, singular values for 2, -2 and ``'nuc'``), so values are NumPy's.

At ``x = 0`` the Euclidean and Frobenius norms and the p-norms have no
derivative (a cone's tip); tracegrad gives **0**, a subgradient, as PyTorch
does (JAX gives nan): the square root is taken through a "double where" that
never differentiates ``sqrt`` at 0. The matrix 2-norm and ``'nuc'`` differentiate
through the singular values (distinct or not: ``svd_s`` needs no gap).
"""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError, TracegradError
from tracer.frames import user_location
from tracer.primitives import complex_parts as cp
from tracer.primitives import elementwise as ew
from tracer.primitives import linalg as la
from tracer.primitives import reductions as red
from tracer.primitives import shape_ops as so
from tracer.primitives.base import normalize_axis, real_dtype
from tracer.primitives.contractions import strong
from tracer.primitives.decompositions import svd
from tracer.staging import Tracer, find_trace

PRIMITIVES = ()


def _root(s, p=2):
    """``s ** (1/p)``, with derivative 0 (not inf) where ``s == 0``."""
    zero = ew.equal(s, 0)
    safe = ew.where(zero, np.ones((), s.dtype), s)
    r = ew.sqrt(safe) if p == 2 else ew.power(safe, np.reciprocal(np.asarray(p, s.dtype)))
    return ew.where(zero, np.zeros((), s.dtype), r)


def _abs2(x):
    """``|x| ** 2`` elementwise, real (``re ** 2 + im ** 2`` for a complex ``x``)."""
    if x.dtype.kind == "c":
        return ew.add(ew.square(cp.real(x)), ew.square(cp.imag(x)))
    return ew.mul(x, x)


def _matrix_norm(x, ord, row, col):  # noqa: A002  (NumPy's name)
    if ord in (2, -2, "nuc"):
        s = svd(so.moveaxis(x, (row, col), (-2, -1)), compute_uv=False)
        if ord == "nuc":
            return red.sum(s, axis=-1)
        return (red.max if ord == 2 else red.min)(s, axis=-1)
    if ord in (1, -1):
        col -= col > row
        return (red.max if ord == 1 else red.min)(red.sum(cp.abs(x), axis=row), axis=col)
    if ord in (np.inf, -np.inf):
        row -= row > col
        return (red.max if ord > 0 else red.min)(red.sum(cp.abs(x), axis=col), axis=row)
    if ord in (None, "fro", "f"):
        return _root(red.sum(_abs2(x), axis=(row, col)))
    raise TracegradError(f"norm: invalid norm order {ord!r} for matrices ({user_location()})")


def _vector_norm(x, ord, axis, keepdims):  # noqa: A002
    if ord == np.inf:
        return red.max(cp.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return red.min(cp.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        count = ew.astype(ew.not_equal(x, 0), real_dtype(x.dtype))
        return red.sum(count, axis=axis, keepdims=keepdims)
    if ord == 1:
        return red.sum(cp.abs(x), axis=axis, keepdims=keepdims)
    if ord is None or ord == 2:
        return _root(red.sum(_abs2(x), axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise TracegradError(f"norm: invalid norm order {ord!r} for vectors ({user_location()})")
    p = np.asarray(ord, real_dtype(x.dtype))
    s = red.sum(ew.power(cp.abs(x), p), axis=axis, keepdims=keepdims)
    return _root(s, ord)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """``np.linalg.norm``: vector orders (1, 2, inf, -inf, 0, p), matrix orders ('fro',
    'nuc', 1, -1, 2, -2, inf, -inf), ``axis`` (an int or a pair), ``keepdims``."""
    if find_trace((x,)) is None:
        return np.linalg.norm(x, ord, axis, keepdims)
    if isinstance(ord, Tracer):  # a float read from a closure: asked for concretely, frozen
        ord = float(ord)  # noqa: A001
    x = strong(x)
    if x.dtype.kind not in "fc":
        x = ew.astype(x, np.float64)
    nd = x.ndim
    if axis is None and (
        ord is None or (ord in ("f", "fro") and nd == 2) or (ord == 2 and nd == 1)
    ):
        flat = so.ravel(x)
        out = _root(red.sum(_abs2(flat)) if x.dtype.kind == "c" else la.dot(flat, flat))
        return so.reshape(out, (1,) * nd) if keepdims else out
    if axis is None:
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        axis = (axis,)
    if len(axis) == 1:
        return _vector_norm(x, ord, (normalize_axis("norm", axis[0], nd),), keepdims)
    if len(axis) != 2:
        raise ShapeError(f"norm: improper number of dimensions to norm ({user_location()})")
    row, col = (normalize_axis("norm", a, nd) for a in axis)
    if row == col:
        raise ShapeError(f"norm: duplicate axes given ({user_location()})")
    out = _matrix_norm(x, ord, row, col)
    if keepdims:
        out = so.reshape(out, tuple(1 if i in (row, col) else d for i, d in enumerate(x.shape)))
    return out


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
    """``np.linalg.vector_norm``, as NumPy writes it: the axes moved first and flattened."""
    if find_trace((x,)) is None:
        return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    x = strong(x)
    shape = list(x.shape)
    if axis is None:
        x, axes = so.ravel(x), tuple(range(len(shape)))
    elif isinstance(axis, tuple):
        axes = tuple(normalize_axis("vector_norm", a, x.ndim) for a in axis)
        rest = [i for i in range(x.ndim) if i not in axes]
        moved = so.transpose(x, list(axes) + rest)
        x = so.reshape(moved, (int(np.prod([shape[i] for i in axes], dtype=int)),
                               *(shape[i] for i in rest)))  # fmt: skip
    else:
        axes = (normalize_axis("vector_norm", axis, x.ndim),)
    out = norm(x, ord, 0 if axis is None or isinstance(axis, tuple) else axis)
    if keepdims:
        out = so.reshape(out, tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return out


def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002
    if find_trace((x,)) is None:
        return np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    return norm(x, ord, (-2, -1), keepdims)


NUMPY = {np.linalg.norm: norm, np.linalg.vector_norm: vector_norm,
         np.linalg.matrix_norm: matrix_norm}  # fmt: skip
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["matrix_norm", "norm", "vector_norm"]
