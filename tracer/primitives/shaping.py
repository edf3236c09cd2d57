"""Shape composites: split and its variants, repeat, tile, pad, roll, the flips and rot90, the
stacking helpers, atleast_3d, rollaxis, broadcast_arrays.

Each is a composite of ``getitem``, ``concatenate``, ``reshape``, ``transpose`` and
``broadcast_to``, so values are NumPy's and derivatives exact with no rule of its own.
Static arguments (sections, repeats, shifts, pad widths) must be concrete: a traced one
would make the result's shape depend on data.
"""

from __future__ import annotations

import builtins
import operator

import numpy as np

from tracer.errors import ShapeError, TracegradError, TracingError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import shape_ops as so
from tracer.primitives.base import normalize_axis
from tracer.staging import Tracer, find_trace

PRIMITIVES = ()  # composites only


def _operand(a):
    return a if isinstance(a, Tracer) else np.asarray(a)


def _static(name, what, value):
    """``value`` must be concrete: a traced one would make the result's shape data-dependent."""
    if find_trace(value if isinstance(value, (tuple, list)) else (value,)) is not None:
        raise TracingError(
            f"np.{name}: a traced {what} would make the result's shape depend on data, which "
            f"cannot be traced (at {user_location()}); pass it as a concrete value"
        )
    return value


def _slice(x, axis, start, stop, step=None):
    return so.getitem(x, (slice(None),) * axis + (slice(start, stop, step),))


def _gather(x, idx, axis):
    """``x`` indexed along ``axis`` by the concrete indices ``idx``, as slices joined: runs of
    consecutive (or reversed) indices are slices, runs of one repeated index a broadcast."""
    n = len(idx)
    if n == x.shape[axis] and np.array_equal(idx, np.arange(n)):
        return x
    pieces, i = [], 0
    while i < n:
        step = int(idx[i + 1] - idx[i]) if i + 1 < n else 1
        step = step if step in (-1, 0, 1) else 1
        j = i + 1
        while j < n and idx[j] - idx[j - 1] == step:
            j += 1
        start, k = int(idx[i]), j - i
        if step == 0:
            shape = tuple(k if a == axis else d for a, d in enumerate(x.shape))
            pieces.append(so.broadcast_to(_slice(x, axis, start, start + 1), shape))
        elif step == 1:
            pieces.append(_slice(x, axis, start, start + k))
        else:
            stop = start - k
            pieces.append(_slice(x, axis, start, None if stop < 0 else stop, -1))
        i = j
    return pieces[0] if len(pieces) == 1 else so.concatenate(pieces, axis)


# ----- split -----
def array_split(ary, indices_or_sections, axis=0):
    """``np.array_split``: a list of sub-arrays (sections may differ by one in size)."""
    if find_trace((ary,)) is None:
        return np.array_split(ary, indices_or_sections, axis)
    _static("array_split", "indices_or_sections", indices_or_sections)
    x = _operand(ary)
    axis = normalize_axis("array_split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise TracegradError(
                f"np.array_split: number sections must be larger than 0. ({user_location()})"
            )
        each, extras = divmod(n, sections)
        sizes = [0] + extras * [each + 1] + (sections - extras) * [each]
        points = [int(p) for p in np.cumsum(sizes)]
    else:
        points = [0, *(operator.index(i) for i in indices_or_sections), n]
    return [_slice(x, axis, st, end) for st, end in zip(points[:-1], points[1:])]


def split(ary, indices_or_sections, axis=0):
    """``np.split``: like ``array_split``, but sections must divide the axis evenly."""
    if find_trace((ary,)) is None:
        return np.split(ary, indices_or_sections, axis)
    x = _operand(ary)
    if isinstance(indices_or_sections, (int, np.integer)):
        n = x.shape[normalize_axis("split", axis, x.ndim)]
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ShapeError(
                f"np.split: array split does not result in an equal division: axis of size {n} "
                f"into {indices_or_sections} sections ({user_location()})"
            )
    return array_split(x, indices_or_sections, axis)


def _split_along(name, min_ndim, axis_of):
    def split_fn(ary, indices_or_sections):
        x = _operand(ary)
        if x.ndim < min_ndim:
            raise ShapeError(
                f"np.{name} only works on arrays of {min_ndim} or more dimensions "
                f"({user_location()})"
            )
        return split(x, indices_or_sections, axis_of(x))

    split_fn.__name__ = name
    return split_fn


hsplit = _split_along("hsplit", 1, lambda x: 1 if x.ndim > 1 else 0)
vsplit = _split_along("vsplit", 2, lambda x: 0)
dsplit = _split_along("dsplit", 3, lambda x: 2)


# ----- repeat, tile, pad, roll -----
def repeat(a, repeats, axis=None):
    """``np.repeat``: one count for all (a broadcast) or one per entry (a gather)."""
    if find_trace((a,)) is None:
        return np.repeat(a, _static("repeat", "repeats", repeats), axis)
    r = np.asarray(_static("repeat", "repeats", repeats))
    if r.dtype.kind not in "iu":
        raise TracegradError(
            f"np.repeat: repeats must be integers, got {r.dtype} ({user_location()})"
        )
    if r.size and r.min() < 0:
        raise TracegradError(
            f"np.repeat: repeats may not contain negative values ({user_location()})"
        )
    x = _operand(a)
    if axis is None:
        x, axis = so.ravel(x), 0
    axis = normalize_axis("repeat", axis, x.ndim)
    n = x.shape[axis]
    if r.size == 1:
        k = int(r.reshape(-1)[0])
        y = so.broadcast_to(
            so.expand_dims(x, axis + 1), x.shape[: axis + 1] + (k,) + x.shape[axis + 1 :]
        )
        return so.reshape(y, x.shape[:axis] + (n * k,) + x.shape[axis + 1 :])
    if r.shape != (n,):
        raise ShapeError(
            f"np.repeat: operands could not be broadcast together with shape ({n},) and "
            f"repeats of shape {r.shape} ({user_location()})"
        )
    return so.take(x, np.repeat(np.arange(n), r), axis=axis)


def tile(A, reps):  # noqa: N803  (NumPy's name)
    """``np.tile``: each axis broadcast along a new axis in front of it, then merged."""
    if find_trace((A,)) is None:
        return np.tile(A, _static("tile", "reps", reps))
    _static("tile", "reps", reps)
    reps = tuple(operator.index(r) for r in (reps if np.ndim(reps) else (reps,)))
    x = _operand(A)
    d = builtins.max(len(reps), x.ndim)
    x = so.reshape(x, (1,) * (d - x.ndim) + x.shape)
    reps = (1,) * (d - len(reps)) + reps
    spread = tuple(v for pair in zip(reps, x.shape) for v in pair)
    y = so.broadcast_to(so.reshape(x, tuple(v for s in x.shape for v in (1, s))), spread)
    return so.reshape(y, tuple(r * s for r, s in zip(reps, x.shape)))


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pairs(name, value, ndim, as_index):
    """NumPy's ``_as_pairs``: ``value`` as one ``(before, after)`` pair per axis."""
    v = np.asarray(value)
    if as_index:
        if v.dtype.kind not in "iu":
            raise TracegradError(f"np.{name}: `pad_width` must be of integral type.")
        if v.size and v.min() < 0:
            raise TracegradError(f"np.{name}: index can't contain negative values")
    if v.size == 2 and v.shape != (2, 1):
        v = v.ravel()
    try:
        return np.broadcast_to(v, (ndim, 2))
    except ValueError:
        raise ShapeError(
            f"np.{name}: cannot broadcast {value!r} to one (before, after) pair per axis "
            f"of {ndim} ({user_location()})"
        ) from None


def pad(array, pad_width, mode="constant", **kwargs):
    """``np.pad`` in modes constant (``constant_values`` may be traced), edge, reflect,
    symmetric and wrap: constant blocks or slices joined along each axis in turn."""
    cv = kwargs.get("constant_values", 0)
    if find_trace((array, cv)) is None:
        return np.pad(array, _static("pad", "pad_width", pad_width), mode, **kwargs)
    _static("pad", "pad_width", pad_width)
    if not isinstance(mode, str) or mode not in _PAD_MODES:
        raise UnsupportedError(
            f"np.pad(..., mode={mode!r}) is not supported when tracing ({user_location()}); "
            f"supported modes: {', '.join(_PAD_MODES)}"
        )
    allowed = {"constant": {"constant_values"}, "reflect": {"reflect_type"},
               "symmetric": {"reflect_type"}}.get(mode, set())  # fmt: skip
    if set(kwargs) - allowed:
        raise TracegradError(
            f"np.pad: unsupported keyword arguments for mode {mode!r}: "
            f"{sorted(set(kwargs) - allowed)}"
        )
    if kwargs.get("reflect_type", "even") != "even":
        raise UnsupportedError(
            f"np.pad(..., reflect_type='odd') is not supported when tracing ({user_location()})"
        )
    x = _operand(array)
    widths = _pairs("pad", pad_width, x.ndim, as_index=True)
    values = None
    if mode == "constant" and not isinstance(cv, Tracer):
        values = _pairs("pad", cv, x.ndim, as_index=False)
    elif mode == "constant" and cv.ndim:
        raise UnsupportedError(
            f"np.pad: a traced constant_values must be a scalar ({user_location()})"
        )
    for axis in range(x.ndim):
        before, after = (int(w) for w in widths[axis])
        if before == after == 0:
            continue
        if mode != "constant":
            idx = np.pad(np.arange(x.shape[axis]), (before, after), mode=mode)
            x = _gather(x, idx, axis)
            continue
        pieces = []
        for k, width in ((0, before), (None, None), (1, after)):
            if k is None:
                pieces.append(x)
                continue
            shape = tuple(width if a == axis else d for a, d in enumerate(x.shape))
            if values is not None:
                pieces.append(np.full(shape, values[axis][k], dtype=x.dtype))
            else:
                pieces.append(so.broadcast_to(ew.astype(cv, x.dtype), shape))
        x = so.concatenate(pieces, axis)
    return x


def roll(a, shift, axis=None):
    """``np.roll``: along each axis, the two pieces swapped."""
    if find_trace((a,)) is None:
        return np.roll(a, _static("roll", "shift", shift), axis)
    _static("roll", "shift", shift)
    x = _operand(a)
    if axis is None:
        return so.reshape(roll(so.ravel(x), shift, 0), x.shape)
    pairs = np.broadcast(shift, axis)
    if pairs.ndim > 1:
        raise ShapeError(
            f"np.roll: 'shift' and 'axis' should be scalars or 1D sequences ({user_location()})"
        )
    shifts: dict[int, int] = {}
    for sh, ax in pairs:
        ax = normalize_axis("roll", ax, x.ndim)
        shifts[ax] = shifts.get(ax, 0) + int(sh)
    for ax, sh in shifts.items():
        n = x.shape[ax]
        if n and sh % n:
            s = sh % n
            x = so.concatenate([_slice(x, ax, n - s, n), _slice(x, ax, 0, n - s)], ax)
    return x


# ----- flips and rotations -----
def flipud(m):
    x = _operand(m)
    if x.ndim < 1:
        raise ShapeError(f"np.flipud: input must be >= 1-d ({user_location()})")
    return _slice(x, 0, None, None, -1)


def fliplr(m):
    x = _operand(m)
    if x.ndim < 2:
        raise ShapeError(f"np.fliplr: input must be >= 2-d ({user_location()})")
    return _slice(x, 1, None, None, -1)


def rot90(m, k=1, axes=(0, 1)):
    """``np.rot90``: flips and a transpose, as NumPy composes them."""
    x = _operand(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise TracegradError("np.rot90: len(axes) must be 2.")
    if axes[0] == axes[1] or builtins.abs(axes[0] - axes[1]) == x.ndim:
        raise TracegradError("np.rot90: Axes must be different.")
    a0, a1 = (normalize_axis("rot90", a, x.ndim) for a in axes)
    k = operator.index(k) % 4
    if k == 0:
        return x
    if k == 2:
        return so.flip(so.flip(x, a0), a1)
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return so.transpose(so.flip(x, a1), perm)
    return so.flip(so.transpose(x, perm), a1)


# ----- stacking -----
def atleast_3d(*arys):
    """``np.atleast_3d``: ``(n,)`` becomes ``(1, n, 1)``, ``(m, n)`` becomes ``(m, n, 1)``."""
    out = []
    for a in arys:
        x = _operand(a)
        if x.ndim == 0:
            x = so.reshape(x, (1, 1, 1))
        elif x.ndim == 1:
            x = so.reshape(x, (1, x.shape[0], 1))
        elif x.ndim == 2:
            x = so.reshape(x, x.shape + (1,))
        out.append(x)
    return out[0] if len(out) == 1 else tuple(out)


def dstack(tup):
    xs = [atleast_3d(_operand(a)) for a in tup]
    return so.concatenate(xs, axis=2)


def column_stack(tup):
    """``np.column_stack``: 1-D arrays become columns; 2-D arrays join as they are."""
    xs = []
    for a in tup:
        x = _operand(a)
        xs.append(so.reshape(x, (-1, 1)) if x.ndim < 2 else x)
    return so.concatenate(xs, axis=1)


def append(arr, values, axis=None):
    x, v = _operand(arr), _operand(values)
    if axis is None:
        return so.concatenate([so.ravel(x), so.ravel(v)], axis=0)
    return so.concatenate([x, v], axis=axis)


def rollaxis(a, axis, start=0):
    """``np.rollaxis``: ``axis`` moved to before ``start`` (NumPy's rule)."""
    x = _operand(a)
    n = x.ndim
    axis = normalize_axis("rollaxis", axis, n)
    start = operator.index(start)
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise ShapeError(
            f"np.rollaxis: 'start' arg requires {-n} <= start < {n + 1}, but {start} was passed in"
        )
    if axis < start:
        start -= 1
    if axis == start:
        return x
    perm = [i for i in range(n) if i != axis]
    perm.insert(start, axis)
    return so.transpose(x, perm)


def broadcast_arrays(*args, subok=False):
    xs = [_operand(a) for a in args]
    try:
        shape = tuple(np.broadcast_shapes(*(x.shape for x in xs)))
    except ValueError:
        raise ShapeError(
            f"np.broadcast_arrays: shapes {[x.shape for x in xs]} do not broadcast "
            f"({user_location()})"
        ) from None
    return tuple(so.broadcast_to(x, shape) for x in xs)


NUMPY = {
    np.split: split, np.array_split: array_split, np.hsplit: hsplit, np.vsplit: vsplit,
    np.dsplit: dsplit, np.repeat: repeat, np.tile: tile, np.pad: pad, np.roll: roll,
    np.flipud: flipud, np.fliplr: fliplr, np.rot90: rot90, np.atleast_3d: atleast_3d,
    np.dstack: dstack, np.column_stack: column_stack, np.append: append, np.rollaxis: rollaxis,
    np.broadcast_arrays: broadcast_arrays,
}  # fmt: skip


def _view_method(x, dtype=None, type=None):  # noqa: A002  (NumPy's names)
    if type is not None or (dtype is not None and np.dtype(dtype) != x.dtype):
        x._trace.blamed.add(x.node)
        raise TracingError(
            f"{x!r}.view(...) with another dtype or type reinterprets a concrete array's memory, "
            f"which a traced value does not have (at {user_location()}); use .astype(dtype)"
        )
    return x


def _to_device_method(x, device, /, *, stream=None):
    if device != "cpu" or stream is not None:
        raise UnsupportedError(f"to_device({device!r}): traced arrays live on the 'cpu' device")
    return x


METHODS = {
    "repeat": lambda x, repeats, axis=None: repeat(x, repeats, axis), "view": _view_method,
    "to_device": _to_device_method,
}  # fmt: skip
ATTRIBUTES = {"device": lambda x: "cpu"}

__all__ = [
    "append", "array_split", "atleast_3d", "broadcast_arrays", "column_stack", "dsplit",
    "dstack", "fliplr", "flipud", "hsplit", "pad", "repeat", "roll", "rollaxis", "rot90",
    "split", "tile", "vsplit",
]  # fmt: skip
