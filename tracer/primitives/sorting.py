"""Sorting and order statistics: the ``sort``, ``partition`` and ``median`` primitives (with
their derivatives), and ``argsort``, ``argpartition`` and ``searchsorted`` (integer results,
zero gradient).

``sort`` and ``partition`` move entries: their derivatives move the gradient by the same
permutation (a gather by the inverse permutation in the vjp), the one NumPy's stable
``argsort`` gives, so tied entries keep their order: the j-th of k equal inputs feeds the
j-th of their places in the output. ``median``'s derivative goes to the selected middle
entry (1/2 to each of the two middle entries of an even count), split evenly among the
entries tied with it, like ``max``'s.
"""

from __future__ import annotations

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import reductions as rd
from tracer.primitives import shape_ops as so
from tracer.primitives.base import (
    CALL_IMPL,
    Primitive,
    normalize_axes,
    normalize_axis,
    result_dtype,
)
from tracer.primitives.batching import ALONG_AXIS, REDUCTION, batch_size, moveaxis, to_front
from tracer.primitives.indexing import take_along_axis
from tracer.staging import Tracer, bind, find_trace

_KINDS = {None: "quicksort", "quicksort": "quicksort", "heapsort": "heapsort",
          "mergesort": "stable", "stable": "stable"}  # fmt: skip


def _axis_rule(op, dtype=None):
    def rule(x, axis, **params):
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{op}: axis {axis} is out of bounds for shape {x.shape}")
        for k in params.get("kth", ()):
            if not 0 <= k < x.shape[axis]:
                raise ShapeError(f"{op}: kth {k} out of bounds for axis of size {x.shape[axis]}")
        return x.shape, np.dtype(dtype or x.dtype)

    return rule


def _median_rule(x, axis, keepdims):
    if tuple(axis) != normalize_axes("median", axis, x.ndim):
        raise TracegradError(f"median: axis must be a sorted tuple of axes, got {axis}")
    shape = tuple(1 if i in axis else d for i, d in enumerate(x.shape) if keepdims or i not in axis)
    return shape, result_dtype(np.median, (x.dtype,))


def _median_impl(x, axis, keepdims):
    return np.asarray(np.median(x, axis=None if len(axis) == x.ndim else axis, keepdims=keepdims))


def _invert_permutation_impl(p, axis):
    inv = np.empty_like(p)
    iota = np.arange(p.shape[axis]).reshape((-1,) + (1,) * (p.ndim - axis - 1))
    np.put_along_axis(inv, p, np.broadcast_to(iota, p.shape), axis=axis)
    return inv


def _searchsorted_rule(a, v, side):
    if a.ndim != 1:
        raise ShapeError(f"searchsorted: the sorted array must be 1-D, got shape {a.shape}")
    return v.shape, np.dtype(np.intp)


def _kind_literal(kind):
    if kind not in ("quicksort", "heapsort", "stable"):
        raise TracegradError(f"argsort: unknown kind {kind!r}")
    return repr(kind)


def _side_literal(side):
    if side not in ("left", "right"):
        raise TracegradError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    return repr(side)


# ----- sorting -----
sort_p = Primitive(
    "sort", lambda x, axis: np.sort(x, axis=axis), _axis_rule("sort"), 1, ("axis",),
    vjp=lambda gy, x, y, axis: (take_along_axis(gy, _inverse(_argsort(x, axis), axis), axis),),
    jvp=lambda ts, x, y, axis: None if ts[0] is None else take_along_axis(
        ts[0], _argsort(x, axis), axis
    ),
    batch=ALONG_AXIS, fresh=True,
    lower=lambda a, p, lit: f"np.sort({a[0]}, axis={lit.int(p['axis'])})",
)  # fmt: skip
argsort_p = Primitive(
    "argsort", lambda x, axis, kind: np.argsort(x, axis=axis, kind=kind),
    _axis_rule("argsort", np.intp), 1, ("axis", "kind"), zero_grad=True, batch=ALONG_AXIS,
    fresh=True,
    lower=lambda a, p, lit: (
        f"np.argsort({a[0]}, axis={lit.int(p['axis'])}, kind={_kind_literal(p['kind'])})"
    ),
)  # fmt: skip
partition_p = Primitive(
    "partition", lambda x, kth, axis: np.partition(x, kth, axis=axis), _axis_rule("partition"), 1,
    ("kth", "axis"),
    vjp=lambda gy, x, y, kth, axis: (take_along_axis(gy, _matching(y, x, axis), axis),),
    jvp=lambda ts, x, y, kth, axis: None if ts[0] is None else take_along_axis(
        ts[0], _matching(x, y, axis), axis
    ),
    batch=ALONG_AXIS, fresh=True, lower=lambda a, p, lit: (
        f"np.partition({a[0]}, {lit.ints(p['kth'])}, axis={lit.int(p['axis'])})"
    ),
)  # fmt: skip
argpartition_p = Primitive(
    "argpartition", lambda x, kth, axis: np.argpartition(x, kth, axis=axis),
    _axis_rule("argpartition", np.intp), 1, ("kth", "axis"), zero_grad=True, batch=ALONG_AXIS,
    fresh=True,
    lower=lambda a, p, lit: (
        f"np.argpartition({a[0]}, {lit.ints(p['kth'])}, axis={lit.int(p['axis'])})"
    ),
)  # fmt: skip
invert_permutation_p = Primitive(
    "invert_permutation",
    _invert_permutation_impl,
    _axis_rule("invert_permutation"),
    1,
    ("axis",),
    zero_grad=True,
    batch=ALONG_AXIS,
    fresh=True,
    lower=CALL_IMPL,
)  # fmt: skip  (argsort of permutations, in linear time: a scatter of 0, 1, ..., n-1)
median_p = Primitive(
    "median", _median_impl, _median_rule, 1, ("axis", "keepdims"),
    vjp=lambda gy, x, y, axis, keepdims: (
        ew.mul(rd._keep(gy, x, axis, keepdims), _median_weights(x, axis)),
    ),
    jvp=lambda ts, x, y, axis, keepdims: None if ts[0] is None else rd.sum(
        ew.mul(ts[0], _median_weights(x, axis)), axis=axis, keepdims=keepdims
    ),
    batch=REDUCTION, fresh=True, lower=CALL_IMPL,  # NumPy wants axis=None, not (), for a 0-d array
)  # fmt: skip
searchsorted_p = Primitive(
    "searchsorted", lambda a, v, side: np.searchsorted(a, v, side=side), _searchsorted_rule, 2,
    ("side",), zero_grad=True, batch=lambda args, dims, side: _batch_searchsorted(args, dims, side),
    fresh=True,
    lower=lambda a, p, lit: f"np.searchsorted({a[0]}, {a[1]}, side={_side_literal(p['side'])})",
)  # fmt: skip

PRIMITIVES = (sort_p, argsort_p, partition_p, argpartition_p, invert_permutation_p, median_p,
              searchsorted_p)  # fmt: skip


# ----- batching -----
def _batch_searchsorted(args, dims, side):
    """``searchsorted`` of a batch. One sorted array for every example: the values' batch axis
    is just more values. A sorted array per example: each example's values are ranked among
    its array by one stable sort of the two together (without a loop): a value's place in
    that sort, less the values sorted before it, counts the entries before it (``side``
    decides which way ties go by which comes first)."""
    (a, v), (da, dv) = args, dims
    if da is None:
        return bind(searchsorted_p, a, v, side=side), dv
    size = batch_size(args, dims)
    a = moveaxis(a, da, 0)
    v = to_front(v, dv, size)
    shape = v.shape
    n, m = a.shape[1], int(np.prod(shape[1:], dtype=np.int64))
    v = so.reshape(v, (size, m))
    both = so.concatenate([v, a] if side == "left" else [a, v], 1)
    rank = _inverse(bind(argsort_p, both, axis=1, kind="stable"), 1)
    rank = so.getitem(rank, (slice(None), slice(0, m) if side == "left" else slice(n, n + m)))
    before = _inverse(bind(argsort_p, v, axis=1, kind="stable"), 1)  # values sorted before
    return so.reshape(ew.sub(rank, before), shape), 0


# ----- local derivatives -----
def _argsort(x, axis):
    return bind(argsort_p, x, axis=axis, kind="stable")


def _inverse(perm, axis):
    """The inverse of permutations ``perm`` along ``axis`` (what ``argsort`` gives, faster)."""
    return bind(invert_permutation_p, perm, axis=axis)


def _matching(src, dst, axis):
    """Indices ``p`` with ``dst == take_along_axis(src, p, axis)``, for ``dst`` a permutation of
    ``src`` along ``axis``: the entry of ``src`` of the same rank (ties in stable order)."""
    return take_along_axis(_argsort(src, axis), _inverse(_argsort(dst, axis), axis), axis)


def _median_weights(x, axes):
    """1/2 to each of the two middle entries (1 to the middle one of an odd count), each
    split evenly among the entries equal to it."""
    m = 1
    for a in axes:
        m *= x.shape[a]
    if m == 0:
        return np.zeros((), dtype=x.dtype)
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    flat = so.reshape(so.transpose(x, kept + tuple(axes)), tuple(x.shape[i] for i in kept) + (m,))
    ordered = bind(sort_p, flat, axis=flat.ndim - 1)
    keep_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))

    def share(k):  # 1/count at the entries equal to the k-th smallest
        v = so.reshape(so.getitem(ordered, (Ellipsis, slice(k, k + 1))), keep_shape)
        hit = ew.astype(ew.equal(x, v), x.dtype)
        return ew.div(hit, rd.sum(hit, axis=axes, keepdims=True))

    if m % 2:
        return share(m // 2)
    return ew.mul(ew.add(share(m // 2 - 1), share(m // 2)), 0.5)


# ----- user-facing functions -----
def _operand(a):
    return a if isinstance(a, Tracer) else np.asarray(a)


def _no_order(name, order):
    if order is not None:
        raise UnsupportedError(
            f"np.{name}(..., order=...) sorts structured arrays, which do not trace "
            f"({user_location()})"
        )


def _flat_or_axis(name, x, axis):
    if axis is None:
        return so.ravel(x), 0
    if x.ndim == 0:
        raise ShapeError(f"np.{name}: axis {axis} is out of bounds for a 0-d array")
    return x, normalize_axis(name, axis, x.ndim)


def _kind(name, kind, stable):
    if stable is not None and kind is not None:
        raise TracegradError(
            f"np.{name}: `kind` and `stable` cannot both be given ({user_location()})"
        )
    if stable:
        return "stable"
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        raise TracegradError(
            f"np.{name}: sort kind must be one of {sorted(k for k in _KINDS if k)}, got {kind!r}"
        ) from None


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``np.sort`` (every ``kind`` gives the same values)."""
    _no_order("sort", order)
    if find_trace((a,)) is None:
        return np.sort(a, axis=axis, kind=kind, stable=stable)
    _kind("sort", kind, stable)
    x, axis = _flat_or_axis("sort", _operand(a), axis)
    return bind(sort_p, x, axis=axis)


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``np.argsort``: NumPy's own, with its ``kind`` (which orders ties)."""
    _no_order("argsort", order)
    if find_trace((a,)) is None:
        return np.argsort(a, axis=axis, kind=kind, stable=stable)
    kind = _kind("argsort", kind, stable)
    x, axis = _flat_or_axis("argsort", _operand(a), axis)
    return bind(argsort_p, x, axis=axis, kind=kind)


def _kth(name, kth, n):
    ks = np.atleast_1d(np.asarray(kth))
    if isinstance(kth, Tracer) or ks.dtype.kind not in "iu" or ks.ndim != 1:
        raise TracegradError(f"np.{name}: kth must be an int or a sequence of ints, got {kth!r}")
    if ks.size and (ks.min() < -n or ks.max() >= n):
        raise ShapeError(f"np.{name}: kth {kth!r} out of bounds for an axis of size {n}")
    return tuple(sorted(int(k) % n for k in ks))


def partition(a, kth, axis=-1, kind="introselect", order=None):
    _no_order("partition", order)
    if find_trace((a,)) is None:
        return np.partition(a, kth, axis=axis, kind=kind)
    x, axis = _flat_or_axis("partition", _operand(a), axis)
    return bind(partition_p, x, kth=_kth("partition", kth, x.shape[axis]), axis=axis)


def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    _no_order("argpartition", order)
    if find_trace((a,)) is None:
        return np.argpartition(a, kth, axis=axis, kind=kind)
    x, axis = _flat_or_axis("argpartition", _operand(a), axis)
    return bind(argpartition_p, x, kth=_kth("argpartition", kth, x.shape[axis]), axis=axis)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    if out is not None:
        raise UnsupportedError(f"np.median(..., out=...) is not supported ({user_location()})")
    if find_trace((a,)) is None:
        return np.median(a, axis=axis, keepdims=keepdims)
    x = _operand(a)
    axes = normalize_axes("median", axis, x.ndim)
    return bind(median_p, x, axis=axes, keepdims=bool(keepdims))


def searchsorted(a, v, side="left", sorter=None):
    """``np.searchsorted``: insertion indices (integers, zero gradient)."""
    if find_trace((a, v, sorter)) is None:
        return np.searchsorted(a, v, side=side, sorter=sorter)
    if side not in ("left", "right"):
        raise TracegradError(f"np.searchsorted: side must be 'left' or 'right', got {side!r}")
    a = _operand(a)
    if sorter is not None:
        a = so.getitem(a, _operand(sorter))
    return bind(searchsorted_p, a, _operand(v), side=side)


NUMPY = {
    np.sort: sort, np.argsort: argsort, np.partition: partition, np.argpartition: argpartition,
    np.median: median, np.searchsorted: searchsorted,
}  # fmt: skip


def _nonzero_method(x):
    raise UnsupportedError(
        f"{x!r}.nonzero() has a data-dependent shape and cannot be traced (at "
        f"{user_location()}); use np.where(condition, x, y)"
    )


def _argsort_method(x, axis=-1, kind=None, order=None, *, stable=None):
    return argsort(x, axis, kind, order, stable=stable)


def _argpartition_method(x, kth, axis=-1, kind="introselect", order=None):
    return argpartition(x, kth, axis, kind, order)


METHODS = {"argsort": _argsort_method, "argpartition": _argpartition_method,
           "searchsorted": searchsorted, "nonzero": lambda x: _nonzero_method(x)}  # fmt: skip
ATTRIBUTES: dict = {}

__all__ = ["argpartition", "argsort", "median", "partition", "searchsorted", "sort"]
