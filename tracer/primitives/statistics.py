"""Statistics as composites of the reductions: ``ptp``, ``nansum``, ``nanmean``, ``average``.

Each follows NumPy's own formula (``nansum`` is ``sum`` after ``where(isnan, 0, x)``,
``average`` is ``sum(a * w) / sum(w)``), so values and dtypes are NumPy's and the
derivatives come from the primitives' rules.
"""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import reductions as rd
from tracer.primitives import shape_ops as so
from tracer.primitives.base import normalize_axes, normalize_axis
from tracer.staging import Tracer, find_trace

PRIMITIVES = ()  # composites only


def _operand(a):
    return a if isinstance(a, Tracer) else np.asarray(a)


def _unsupported(name, **kwargs):
    for key, value in kwargs.items():
        if value is not None and value is not np._NoValue:
            raise UnsupportedError(
                f"np.{name}(..., {key}=...) is not supported on traced arrays ({user_location()})"
            )


def ptp(a, axis=None, out=None, keepdims=False):
    """``np.ptp``: ``max - min`` (each with its tie rule)."""
    _unsupported("ptp", out=out)
    if find_trace((a,)) is None:
        return np.ptp(a, axis=axis, keepdims=keepdims)
    x = _operand(a)
    return ew.sub(rd.max(x, axis, keepdims=keepdims), rd.min(x, axis, keepdims=keepdims))


def _nan_to_zero(x):
    if x.dtype.kind not in "fc":
        return x, None
    nan = ew.not_equal(x, x)
    return ew.where(nan, np.zeros((), x.dtype), x), nan


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nansum``: NaNs count as zero."""
    _unsupported("nansum", out=out, initial=initial, where=where)
    if find_trace((a,)) is None:
        return np.nansum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    x, _ = _nan_to_zero(_operand(a))
    return rd.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """``np.nanmean``: the mean of the entries that are not NaN (NaN where there are none)."""
    _unsupported("nanmean", out=out, where=where)
    if find_trace((a,)) is None:
        return np.nanmean(a, axis=axis, dtype=dtype, keepdims=keepdims)
    x, nan = _nan_to_zero(_operand(a))
    if nan is None:
        return rd.mean(x, axis=axis, dtype=dtype, keepdims=keepdims)
    count = rd.sum(ew.logical_not(nan), axis=axis, dtype=np.intp, keepdims=keepdims)
    total = rd.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)
    # NumPy divides in place: the quotient is cast back to the sum's dtype
    return ew.astype(ew.div(total, count), total.dtype)


def average(a, axis=None, weights=None, returned=False, *, keepdims=np._NoValue):
    """``np.average``: ``sum(a * w) / sum(w)`` (the mean without weights); ``returned`` also
    gives the sum of the weights. Weights summing to zero give inf or NaN: the check NumPy
    makes (a ``ZeroDivisionError``) needs concrete values."""
    if find_trace((a, weights)) is None:
        kw = {} if keepdims is np._NoValue else {"keepdims": keepdims}
        return np.average(a, axis=axis, weights=weights, returned=returned, **kw)
    x = _operand(a)
    keep = bool(keepdims) if keepdims is not np._NoValue else False
    axes = None if axis is None else normalize_axes("average", axis, x.ndim)
    if weights is None:
        avg = rd.mean(x, axis=axes, keepdims=keep)
        scale = np.asarray(x.size / avg.size, dtype=avg.dtype)
    else:
        w = _operand(weights)
        extra = ("f8",) if x.dtype.kind in "biu" else ()
        dtype = np.result_type(x.dtype, w.dtype, *extra)
        if x.shape != w.shape:
            if axes is None:
                raise TracegradError(
                    f"np.average: Axis must be specified when shapes of a and weights differ "
                    f"({user_location()})"
                )
            given = [normalize_axis("average", i, x.ndim) for i in np.atleast_1d(axis)]
            if w.shape != tuple(x.shape[i] for i in given):
                raise ShapeError(
                    f"np.average: Shape of weights must be consistent with shape of a along "
                    f"specified axis ({user_location()})"
                )
            w = so.transpose(w, tuple(int(i) for i in np.argsort(given)))
            w = so.reshape(w, tuple(d if i in axes else 1 for i, d in enumerate(x.shape)))
        scale = rd.sum(w, axis=axes, dtype=dtype, keepdims=keep)
        prod = ew.mul(ew.astype(x, dtype), ew.astype(w, dtype))
        avg = ew.div(rd.sum(prod, axis=axes, keepdims=keep), scale)
    if not returned:
        return avg
    shape = avg.shape if isinstance(avg, Tracer) else np.shape(avg)
    return avg, so.broadcast_to(scale, shape)


NUMPY = {np.ptp: ptp, np.nansum: nansum, np.nanmean: nanmean, np.average: average}
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["average", "nanmean", "nansum", "ptp"]
