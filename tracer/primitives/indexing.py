"""Indexing composites: ``take_along_axis`` (a ``getitem`` with broadcast index arrays),
``select`` and ``choose`` (chains of ``where``), ``compress`` (a ``take`` with a concrete mask).

Their derivatives come from ``getitem`` (a scatter-add) and ``where``: exact, no new rules.
"""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError, TracegradError, TracingError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import shape_ops as so
from tracer.primitives.base import broadcast_shapes, normalize_axis
from tracer.staging import Tracer, find_trace

PRIMITIVES = ()  # composites only


def _operand(a):
    return a if isinstance(a, Tracer) else np.asarray(a)


def take_along_axis(arr, indices, axis=-1):
    """``np.take_along_axis``: ``arr`` indexed along ``axis`` by ``indices`` (its other axes
    broadcast against ``arr``'s); ``axis=None`` indexes the flattened array."""
    if find_trace((arr, indices)) is None:
        return np.take_along_axis(arr, indices, axis=axis)
    x, idx = _operand(arr), _operand(indices)
    if idx.dtype.kind not in "iu":
        raise TracegradError(
            f"np.take_along_axis: indices must be integers, got {idx.dtype} ({user_location()})"
        )
    if axis is None:
        if idx.ndim != 1:
            raise ShapeError(
                f"np.take_along_axis: when axis=None, indices must be 1-D, got {idx.shape} "
                f"({user_location()})"
            )
        return so.getitem(so.ravel(x), idx)
    if idx.ndim != x.ndim:
        raise ShapeError(
            f"np.take_along_axis: indices ({idx.ndim}-D) and arr ({x.ndim}-D) must have the "
            f"same number of dimensions ({user_location()})"
        )
    axis = normalize_axis("take_along_axis", axis, x.ndim)
    index = []
    for i, n in enumerate(x.shape):
        if i == axis:
            index.append(idx)
        else:  # NumPy's fancy index: aranges that broadcast along the other axes
            index.append(np.arange(n).reshape((1,) * i + (n,) + (1,) * (x.ndim - i - 1)))
    return so.getitem(x, tuple(index))


def select(condlist, choicelist, default=0):
    """``np.select``: the first choice whose condition holds, else ``default`` (a chain of
    ``where``, last choice innermost). Python numbers are weak, as in NumPy."""
    if len(condlist) != len(choicelist):
        raise TracegradError("np.select: list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise TracegradError("np.select: select with an empty condition list is not possible")
    choices = [c if type(c) in (int, float, complex) else _operand(c) for c in choicelist]
    default = default if type(default) in (int, float, complex) else _operand(default)
    conds = [_operand(c) for c in condlist]
    for i, c in enumerate(conds):
        if c.dtype != np.bool_:
            raise TracegradError(
                f"np.select: invalid entry {i} in condlist: should be boolean ndarray "
                f"({user_location()})"
            )
    if find_trace((*conds, *choices, default)) is None:
        return np.select(conds, choices, default)
    dtype = np.result_type(*[ew.weak_repr(c) for c in (*choices, default)])
    result = ew.astype(default, dtype)
    for cond, choice in zip(reversed(conds), reversed(choices)):
        result = ew.where(cond, ew.astype(choice, dtype), result)
    shape = broadcast_shapes("select", *conds, *[_operand(c) for c in (*choices, default)])
    return so.broadcast_to(result, shape)


def choose(a, choices, out=None, mode="raise"):
    """``np.choose``: ``choices[a[i]][i]``, as a chain of ``where`` on ``a == k``.

    ``mode="clip"`` clips ``a``; ``"wrap"`` needs a concrete ``a``. Out-of-range traced
    indices cannot raise as NumPy does: they pick the last choice.
    """
    if out is not None:
        raise UnsupportedError(f"np.choose(..., out=...) is not supported ({user_location()})")
    choices = list(choices)
    choices = [c if type(c) in (int, float, complex) else _operand(c) for c in choices]
    if find_trace((a, *choices)) is None:
        return np.choose(a, choices, mode=mode)
    idx = _operand(a)
    n = len(choices)
    if isinstance(idx, np.ndarray):
        if mode == "wrap":
            idx = np.mod(idx, n)
        elif mode == "clip":
            idx = np.clip(idx, 0, n - 1)
        elif idx.size and (idx.min() < 0 or idx.max() >= n):
            raise TracegradError(f"np.choose: invalid entry in choice array ({user_location()})")
    elif mode == "clip":
        idx = ew.clip(idx, 0, n - 1)
    elif mode == "wrap":
        raise UnsupportedError(
            f"np.choose(..., mode='wrap') with traced indices is not supported "
            f"({user_location()}); use mode='clip' or wrap the indices outside"
        )
    if idx.dtype.kind not in "biu":
        raise TracegradError(f"np.choose: indices must be integers, got {idx.dtype}")
    dtype = np.result_type(*[ew.weak_repr(c) for c in choices])  # Python numbers are weak
    result = ew.astype(choices[-1], dtype)
    for k in range(n - 2, -1, -1):
        result = ew.where(ew.equal(idx, k), ew.astype(choices[k], dtype), result)
    shapes = [getattr(c, "shape", ()) for c in (idx, *choices)]
    try:
        return so.broadcast_to(result, np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"np.choose: shapes {shapes} do not broadcast ({user_location()})"
        ) from None


def compress(condition, a, axis=None, out=None):
    """``np.compress``: the slices where a *concrete* ``condition`` holds (a traced one
    would give a data-dependent shape)."""
    if out is not None:
        raise UnsupportedError(f"np.compress(..., out=...) is not supported ({user_location()})")
    if isinstance(condition, Tracer):
        condition._trace.blamed.add(condition.node)
        raise TracingError(
            f"np.compress with a traced condition has a data-dependent shape and cannot be "
            f"traced (at {user_location()}); use np.where(condition, a, 0) instead"
        )
    if find_trace((a,)) is None:
        return np.compress(condition, a, axis=axis)
    x = _operand(a)
    cond = np.asarray(condition)
    if cond.ndim != 1:
        raise ShapeError(f"np.compress: condition must be a 1-d array ({user_location()})")
    if axis is None:
        x, axis = so.ravel(x), 0
    axis = normalize_axis("compress", axis, x.ndim)
    if cond.size > x.shape[axis]:
        raise ShapeError(
            f"np.compress: condition of length {cond.size} is longer than axis {axis} of "
            f"length {x.shape[axis]} ({user_location()})"
        )
    return so.take(x, np.flatnonzero(cond), axis=axis)


NUMPY = {
    np.take_along_axis: take_along_axis, np.select: select, np.choose: choose,
    np.compress: compress,
}  # fmt: skip


def _choose_method(x, choices, out=None, mode="raise"):
    return choose(x, choices, out, mode)


def _compress_method(x, condition, axis=None, out=None):
    return compress(condition, x, axis, out)


METHODS = {"choose": _choose_method, "compress": _compress_method}
ATTRIBUTES: dict = {}

__all__ = ["choose", "compress", "select", "take_along_axis"]
