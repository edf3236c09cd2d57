"""Scans: the ``cumsum`` and ``cumprod`` primitives (with their derivatives) and ``diff``.

``cumsum`` is linear: its vjp is the reversed cumulative sum of the gradient.
``cumprod``'s derivatives are exact at zeros (one or several): with ``y = cumprod(x)``,
``dy_i/dx_k = y_{k-1} * x_{k+1} * ... * x_i``, so the vjp is ``y_{k-1} * s_k`` where
``s_k = gy_k + x_{k+1} * s_{k+1}``, a linear recurrence computed without division by
a log-depth scan of slices (``_reverse_scan``); the jvp is the same recurrence run
forward. Everything is written with traceable ops, so second derivatives are exact too.
"""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import shape_ops as so
from tracer.primitives.base import Primitive, linear, normalize_axis, result_dtype
from tracer.primitives.batching import ALONG_AXIS
from tracer.staging import Tracer, bind, find_trace


def _scan_rule(op, fn):
    def rule(x, axis):
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{op}: axis {axis} is out of bounds for shape {x.shape}")
        return x.shape, result_dtype(fn, (x.dtype,))

    return rule


def _scan_lowering(fn):
    return lambda a, p, lit: f"np.{fn}({a[0]}, axis={lit.int(p['axis'])})"


# ----- scans -----
cumsum_p = Primitive(
    "cumsum", lambda x, axis: np.cumsum(x, axis=axis), _scan_rule("cumsum", np.cumsum), 1,
    ("axis",),
    *linear(lambda t, axis: cumsum(t, axis), lambda gy, x, axis: _reverse_cumsum(gy, axis)),
    batch=ALONG_AXIS, fresh=True, lower=_scan_lowering("cumsum"),
)  # fmt: skip
cumprod_p = Primitive(
    "cumprod", lambda x, axis: np.cumprod(x, axis=axis), _scan_rule("cumprod", np.cumprod), 1,
    ("axis",), vjp=lambda gy, x, y, axis: (_cumprod_vjp(gy, x, y, axis),),
    jvp=lambda ts, x, y, axis: None if ts[0] is None else _cumprod_jvp(ts[0], x, y, axis),
    batch=ALONG_AXIS, fresh=True, lower=_scan_lowering("cumprod"),
)  # fmt: skip

PRIMITIVES = (cumsum_p, cumprod_p)


# ----- local derivatives -----
def _slice(x, axis, start, stop):
    """``x[start:stop]`` along ``axis``."""
    return so.getitem(x, (slice(None),) * axis + (slice(start, stop),))


def _reverse_cumsum(g, axis):
    return so.flip(cumsum(so.flip(g, axis), axis), axis)


def _reverse_scan(a, b, axis):
    """``s_k = b_k + a_k * s_{k+1}`` along ``axis`` (``s_n = 0``); ``a`` has one entry fewer.

    Hillis-Steele: after the step of offset ``d``, ``b[k]`` holds the recurrence summed over
    the window ``[k, k + 2d)`` and ``a[k]`` the product of the multipliers in it, so
    ``ceil(log2(n))`` steps of slices, products and sums compute it, without dividing.
    """
    n = b.shape[axis]
    d = 1
    while d < n:
        head = ew.add(
            _slice(b, axis, 0, n - d), ew.mul(_slice(a, axis, 0, n - d), _slice(b, axis, d, n))
        )
        b = so.concatenate([head, _slice(b, axis, n - d, n)], axis)
        if 2 * d < n:
            a_head = ew.mul(_slice(a, axis, 0, n - 1 - d), _slice(a, axis, d, n - 1))
            a = so.concatenate([a_head, _slice(a, axis, n - 1 - d, n - 1)], axis)
        d *= 2
    return b


def _times_shifted(y, v, axis):
    """``y_{k-1} * v_k``, taking ``y_{-1} = 1``."""
    return so.concatenate(
        [_slice(v, axis, 0, 1), ew.mul(_slice(y, axis, 0, -1), _slice(v, axis, 1, None))], axis
    )


def _cumprod_vjp(gy, x, y, axis):
    # gx_k = y_{k-1} * s_k,  s_k = gy_k + x_{k+1} * s_{k+1}
    s = _reverse_scan(_slice(x, axis, 1, None), gy, axis)
    return _times_shifted(y, s, axis)


def _cumprod_jvp(t, x, y, axis):
    # ty_k = x_k * ty_{k-1} + y_{k-1} * t_k: the same recurrence, run forward (on the reversal)
    b = so.flip(_times_shifted(y, t, axis), axis)
    return so.flip(_reverse_scan(so.flip(_slice(x, axis, 1, None), axis), b, axis), axis)


# ----- user-facing functions -----
def _no_out(name, out):
    if out is not None:
        raise UnsupportedError(
            f"np.{name}(..., out=...) is not supported: traced arrays are immutable "
            f"({user_location()})"
        )


def _operand(a):
    return a if isinstance(a, Tracer) else np.asarray(a)


def _scan(prim, name, a, axis, dtype):
    x = _operand(a)
    if dtype is not None:
        x = ew.astype(x, dtype)
    if axis is None or x.ndim == 0:  # NumPy scans the flattened array (a 0-d one becomes 1-d)
        if axis is not None:
            normalize_axis(name, axis, 1)
        x, axis = so.ravel(x), 0
    axis = normalize_axis(name, axis, x.ndim)
    out = bind(prim, x, axis=axis)
    # np.cumsum(int32, dtype=int32) is int32; the primitive follows NumPy's default (int64)
    return out if dtype is None else ew.astype(out, dtype)


def cumsum(a, axis=None, dtype=None, out=None):
    _no_out("cumsum", out)
    if find_trace((a,)) is None:
        return np.cumsum(a, axis=axis, dtype=dtype)
    return _scan(cumsum_p, "cumsum", a, axis, dtype)


def cumprod(a, axis=None, dtype=None, out=None):
    _no_out("cumprod", out)
    if find_trace((a,)) is None:
        return np.cumprod(a, axis=axis, dtype=dtype)
    return _scan(cumprod_p, "cumprod", a, axis, dtype)


_NOVALUE = np._NoValue


def diff(a, n=1, axis=-1, prepend=_NOVALUE, append=_NOVALUE):
    """``np.diff``: differences of neighbours along ``axis`` (``not_equal`` for booleans),
    ``n`` times, after joining ``prepend`` and ``append`` (scalars are broadcast)."""
    if find_trace((a, prepend, append)) is None:
        return np.diff(a, n, axis, prepend, append)
    if n == 0:
        return a
    if n < 0:
        raise TracegradError(
            f"np.diff: order must be non-negative but got {n!r} ({user_location()})"
        )
    x = _operand(a)
    if x.ndim == 0:
        raise ShapeError(
            f"np.diff: requires input that is at least one dimensional ({user_location()})"
        )
    axis = normalize_axis("diff", axis, x.ndim)
    combined = []
    for extra in (prepend, None, append):
        if extra is None:
            combined.append(x)
        elif extra is not _NOVALUE:
            extra = _operand(extra)
            if extra.ndim == 0:
                shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape))
                extra = so.broadcast_to(extra, shape)
            combined.append(extra)
    if len(combined) > 1:
        x = so.concatenate(combined, axis)
    op = ew.not_equal if x.dtype == np.bool_ else ew.sub
    for _ in range(n):
        x = op(_slice(x, axis, 1, None), _slice(x, axis, 0, -1))
    return x


NUMPY = {np.cumsum: cumsum, np.cumprod: cumprod, np.diff: diff}


def _cumsum_method(x, axis=None, dtype=None, out=None):
    return cumsum(x, axis, dtype, out)


def _cumprod_method(x, axis=None, dtype=None, out=None):
    return cumprod(x, axis, dtype, out)


METHODS = {"cumsum": _cumsum_method, "cumprod": _cumprod_method}
ATTRIBUTES: dict = {}

__all__ = ["cumprod", "cumsum", "diff"]
