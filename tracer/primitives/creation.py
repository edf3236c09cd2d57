"""Arrays built from traced values: ``linspace`` with traced endpoints and ``meshgrid``.

Both are composites (``linspace`` follows NumPy's own arithmetic step by step, so its
values are NumPy's to the last bit); ``num`` and the shapes are static.
"""

from __future__ import annotations

import operator

import numpy as np

from tracer.errors import TracegradError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import reductions as rd
from tracer.primitives import shape_ops as so
from tracer.primitives.base import normalize_axis
from tracer.staging import Tracer, find_trace

PRIMITIVES = ()  # composites only


def _operand(a):
    return a if isinstance(a, Tracer) or type(a) in (int, float, complex) else np.asarray(a)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """``np.linspace``: ``start + arange(num) * step`` (``stop`` itself last when ``endpoint``),
    with array endpoints broadcast along a new axis ``axis``."""
    if find_trace((start, stop)) is None:
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    num = operator.index(num)
    if num < 0:
        raise TracegradError(f"np.linspace: Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    start, stop = _operand(start), _operand(stop)
    dt = np.result_type(*(ew.weak_repr(v) for v in (start, stop)), 1.0)  # ensure inexact
    start, stop = ew.astype(start, dt), ew.astype(stop, dt)
    delta = ew.sub(stop, start)
    nd = np.ndim(delta) if not isinstance(delta, Tracer) else delta.ndim
    y = np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * nd)
    if div > 0:
        step = ew.div(delta, div)
        # NumPy divides first where a step underflows to 0 (denormal steps, gh-5437)
        zero = rd.any(ew.equal(step, 0))
        y = ew.where(zero, ew.mul(y / div, delta), ew.mul(y, step))  # y: NumPy, div weak
    else:
        step = np.nan
        y = ew.mul(y, delta)
    y = ew.add(y, start)
    if endpoint and num > 1:
        last = so.reshape(so.broadcast_to(stop, y.shape[1:]), (1,) + y.shape[1:])
        y = so.concatenate([so.getitem(y, slice(None, -1)), ew.astype(last, y.dtype)], 0)
    if axis != 0:
        y = so.moveaxis(y, 0, normalize_axis("linspace", axis, y.ndim))
    if dtype is not None:
        if np.issubdtype(dtype, np.integer):
            y = ew.floor(y)
        y = ew.astype(y, dtype)
    return (y, step) if retstep else y


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``np.meshgrid``: each input reshaped along its own axis (the first two swapped for
    ``indexing="xy"``), broadcast to the full grid unless ``sparse``."""
    if indexing not in ("xy", "ij"):
        raise TracegradError(
            f"np.meshgrid: Valid values for `indexing` are 'xy' and 'ij' ({user_location()})"
        )
    ndim = len(xi)
    out = []
    for i, x in enumerate(xi):
        shape = [1] * ndim
        shape[i] = -1
        if indexing == "xy" and ndim > 1 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        out.append(so.reshape(_operand(x), tuple(shape)))
    if not sparse and out:
        full = tuple(np.broadcast_shapes(*(x.shape for x in out)))
        out = [so.broadcast_to(x, full) for x in out]
    return tuple(out)


NUMPY = {np.linspace: linspace, np.meshgrid: meshgrid}
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["linspace", "meshgrid"]
