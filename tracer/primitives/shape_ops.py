"""Shape primitives: reshape, transpose, broadcast_to, squeeze, expand_dims, concatenate, stack,
getitem (basic slicing and integer-array indexing) and its adjoint scatter_add, each declared
with its derivatives, its lowering and its rewrites.

``getitem``'s index is static data: a tuple of items ``("int", i)``,
``("slice", start, stop, step)``, ``("newaxis",)``, ``("array", k)``, where
``k`` names the k-th index-array operand (operands 1, 2, ... of the node), and
``("ellipsis",)`` for a ``...`` that covers no axis (it still makes the array
indices around it non-adjacent, which moves their axes to the front in NumPy).
"""

from __future__ import annotations

import builtins
import operator

import numpy as np

from tracer.errors import ShapeError, TracegradError, TracingError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import shape_batching as sb
from tracer.primitives.base import (
    CALL_IMPL,
    Primitive,
    avals_str,
    linear,
    normalize_axes,
    normalize_axis,
)
from tracer.spec import format_aval
from tracer.staging import Tracer, bind, find_trace

# ----- shape rules -----


def _reshape_rule(x, shape):
    if int(np.prod(shape, dtype=np.int64)) != int(np.prod(x.shape, dtype=np.int64)):
        raise ShapeError(f"reshape: cannot reshape array of shape {x.shape} into shape {shape}")
    return tuple(shape), x.dtype


def _transpose_rule(x, axes):
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
    return tuple(x.shape[a] for a in axes), x.dtype


def _broadcast_to_rule(x, shape):
    try:
        out = tuple(np.broadcast_shapes(x.shape, tuple(shape)))
    except ValueError:
        out = None
    if out != tuple(shape):
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {tuple(shape)}")
    return tuple(shape), x.dtype


def _squeeze_rule(x, axis):
    for a in axis:
        if not 0 <= a < x.ndim or x.shape[a] != 1:
            raise ShapeError(f"squeeze: cannot select axis {a} of shape {x.shape}: size is not 1")
    return tuple(d for i, d in enumerate(x.shape) if i not in axis), x.dtype


def _expand_dims_rule(x, axis):
    ndim = x.ndim + len(axis)
    if normalize_axes("expand_dims", axis, ndim) != tuple(axis):
        raise ShapeError(f"expand_dims: bad axis {axis} for result of {ndim} dimensions")
    dims = iter(x.shape)
    return tuple(1 if i in axis else next(dims) for i in range(ndim)), x.dtype


def _concatenate_rule(*xs, axis):
    if not xs:
        raise ShapeError("concatenate: need at least one array to concatenate")
    nd = xs[0].ndim
    if nd == 0:
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated")
    normalize_axis("concatenate", axis, nd)
    for x in xs:
        if x.ndim != nd or any(
            d != e for i, (d, e) in enumerate(zip(x.shape, xs[0].shape)) if i != axis
        ):
            raise ShapeError(
                f"concatenate: shapes must match except along axis {axis}: {avals_str(*xs)}"
            )
    shape = list(xs[0].shape)
    shape[axis] = builtins.sum(x.shape[axis] for x in xs)
    return tuple(shape), np.result_type(*[x.dtype for x in xs])


def _stack_rule(*xs, axis):
    if not xs:
        raise ShapeError("stack: need at least one array to stack")
    if any(x.shape != xs[0].shape for x in xs):
        raise ShapeError(f"stack: all input arrays must have the same shape: {avals_str(*xs)}")
    normalize_axis("stack", axis, xs[0].ndim + 1)
    shape = list(xs[0].shape)
    shape.insert(axis, len(xs))
    return tuple(shape), np.result_type(*[x.dtype for x in xs])


def _index_tuple(index, arrays):
    out = []
    for item in index:
        kind = item[0]
        if kind == "int":
            out.append(item[1])
        elif kind == "slice":
            out.append(slice(item[1], item[2], item[3]))
        elif kind == "newaxis":
            out.append(None)
        elif kind == "ellipsis":
            out.append(Ellipsis)
        elif kind == "array":
            out.append(arrays[item[1]])
        else:
            raise TracegradError(f"getitem: unknown index item {item!r}")
    return tuple(out)


def _index_result_shape(op, shape, index, arrays):
    """NumPy's result shape for ``x[index]``, computed without allocating anything.

    Basic items give their own axes in order; integer arrays (and ints, when
    arrays are present) broadcast together and their axes go where the first of
    them stands if they are adjacent in the index, in front otherwise (NumPy's rule).
    """
    for a in arrays:
        if a.dtype.kind not in "iu":
            raise TracegradError(f"{op}: index arrays must be integers, got {a.dtype}")
    shape = tuple(shape)
    has_arrays = any(item[0] == "array" for item in index)
    out: list[int] = []
    adv_shapes, adv_at, last_adv, adjacent, dim = [], None, None, True, 0

    def bad(why):
        return ShapeError(f"{op}: index {index} does not fit shape {shape}: {why}")

    for pos, item in enumerate(index):
        kind = item[0]
        if kind in ("int", "slice", "array") and dim >= len(shape):
            raise bad(f"too many indices for an array of dimension {len(shape)}")
        if kind == "newaxis":
            out.append(1)
            continue
        if kind == "ellipsis":
            continue
        if kind == "slice":
            try:
                out.append(len(range(*slice(*item[1:4]).indices(shape[dim]))))
            except (TypeError, ValueError) as exc:
                raise bad(exc) from None
            dim += 1
            continue
        if kind == "int":
            i = item[1]
            if not _is_int(i) or not -shape[dim] <= i < shape[dim]:
                raise bad(f"index {i!r} is out of bounds for axis {dim} with size {shape[dim]}")
            dim += 1
            if not has_arrays:
                continue
        elif kind == "array":
            if not _is_int(item[1]) or not 0 <= item[1] < len(arrays):
                raise bad(f"no index-array operand {item[1]!r}")
            adv_shapes.append(arrays[item[1]].shape)
            dim += 1
        else:
            raise TracegradError(f"{op}: unknown index item {item!r}")
        if adv_at is None:
            adv_at = len(out)
        elif last_adv != pos - 1:
            adjacent = False
        last_adv = pos
    out.extend(shape[dim:])
    if has_arrays:
        try:
            bshape = list(np.broadcast_shapes(*adv_shapes))
        except ValueError:
            raise bad(f"index arrays of shapes {adv_shapes} do not broadcast") from None
        out = out[:adv_at] + bshape + out[adv_at:] if adjacent else bshape + out
    return tuple(out)


def _getitem_impl(x, *arrays, index):
    return x[_index_tuple(index, arrays)]


def _getitem_rule(x, *arrays, index):
    return _index_result_shape("getitem", x.shape, index, arrays), x.dtype


def _scatter_add_impl(g, *arrays, shape, index):
    if not isinstance(g, np.ndarray) and not arrays:  # a Dask array: no buffer to write into
        padded = _scatter_by_padding(g, shape, index)
        if padded is None:
            raise UnsupportedError(
                f"the gradient of x[...] with slices of steps other than 1 and -1 cannot be "
                f"formed on a {type(g).__module__.split('.')[0]} array (index {index})"
            )
        return padded
    out = np.zeros(shape, dtype=g.dtype)
    idx = _index_tuple(index, arrays)
    if arrays:
        np.add.at(out, idx, g)
    else:
        out[idx] += g
    return out


def _scatter_by_padding(g, shape, index):
    """``scatter_add`` of a basic index (ints, newaxis, slices of step 1 or -1) with array
    functions only, for arrays without writable buffers (Dask: chunks stay chunks): ``g``
    with the int axes put back, zero-padded around. None for other indexes."""
    squeeze, expand, flip, pads, ax, gx = [], [], [], [], 0, 0
    for item in index:
        kind = item[0]
        if kind == "int":
            i = item[1] % shape[ax]
            expand.append(ax)
            pads.append((i, shape[ax] - i - 1))
            ax += 1
        elif kind == "slice":
            r = range(shape[ax])[slice(item[1], item[2], item[3])]
            if not len(r):  # nothing was read: a zero gradient
                return np.zeros_like(g, shape=shape)
            if len(r) > 1 and r.step not in (1, -1):
                return None
            if len(r) > 1 and r.step == -1:
                flip.append(gx)
            start = min(r[0], r[-1])
            pads.append((start, shape[ax] - start - len(r)))
            ax, gx = ax + 1, gx + 1
        elif kind == "newaxis":
            squeeze.append(gx)
            gx += 1
        elif kind != "ellipsis":
            return None
    pads += [(0, 0)] * (len(shape) - ax)
    if flip:
        g = np.flip(g, axis=tuple(flip))
    if squeeze:
        g = np.squeeze(g, axis=tuple(squeeze))
    if expand:
        g = np.expand_dims(g, tuple(expand))
    return np.pad(g, pads) if any(p != (0, 0) for p in pads) else g


def _scatter_add_rule(g, *arrays, shape, index):
    expect = _index_result_shape("scatter_add", shape, index, arrays)
    if tuple(g.shape) != tuple(expect):
        raise ShapeError(f"scatter_add: update of shape {g.shape} does not fit index ({expect})")
    return tuple(shape), g.dtype


# ----- shape ops -----
def _shape_lowering(fn, key):
    return lambda a, p, lit: f"np.{fn}({a[0]}, {lit.ints(p[key])})"


def _join_lowering(fn):
    return lambda a, p, lit: (
        f"np.{fn}(({', '.join(a)}{',' if len(a) == 1 else ''}), " + (f"{lit.int(p['axis'])})")
    )


def _shape_xp(fn, key):
    """The array-API call of a shape op (``xp.permute_dims(x, (1, 0))``)."""
    return lambda a, p, lit: f"xp.{fn}({a[0]}, {lit.ints(p[key])})"


def _squeeze_xp(a, p, lit):
    return f"xp.squeeze({a[0]}, axis={lit.ints(p['axis'])})"


def _expand_dims_xp(a, p, lit):
    out = a[0]  # the standard's expand_dims takes one axis: ascending axes of the result
    for ax in sorted(p["axis"]):
        out = f"xp.expand_dims({out}, axis={lit.int(ax)})"
    return out


def _join_xp(fn):
    return lambda a, p, lit: (
        f"xp.{fn}(({', '.join(a)}{',' if len(a) == 1 else ''}), axis={lit.int(p['axis'])})"
    )


def _getitem_xp(a, p, lit):
    if any(item[0] == "array" for item in p["index"]):
        raise UnsupportedError("getitem with array indices has no array-API form here")
    index = p["index"]  # the standard wants every axis indexed: a trailing ... does it
    if not any(item[0] == "ellipsis" for item in index):
        index = (*index, ("ellipsis",))
    return f"{a[0]}[{lit.index(index, a[1:])}]"


def _scatter_add_xp(a, p, lit):
    """Zeros of the operand's shape with the cotangent written at a basic index (basic
    indices select each element at most once: writing is adding), in one expression."""
    items = []
    for item in (*p["index"], ("ellipsis",)):
        if item[0] == "int":
            items.append(lit.int(item[1]))
        elif item[0] == "slice":
            bounds = ["None" if b is None else lit.int(b) for b in item[1:4]]
            items.append(f"slice({', '.join(bounds)})")
        elif item[0] == "ellipsis":
            items.append("...")
        else:
            raise UnsupportedError(
                f"the gradient of x[...] with {item[0]} indices has no array-API form here"
            )
    g = a[0]
    zeros = f"xp.zeros({lit.ints(p['shape'])}, dtype={g}.dtype, device={g}.device)"
    return f"(_z := {zeros}, _z.__setitem__(({', '.join(items)},), {g}))[0]"


reshape_p = Primitive(
    "reshape", lambda x, shape: np.reshape(x, shape), _reshape_rule, 1, ("shape",),
    *linear(lambda t, shape: reshape(t, shape), lambda gy, x, shape: reshape(gy, x.shape)),
    batch=sb.RESHAPE, view=True, lower=_shape_lowering("reshape", "shape"),
    rewrites=(lambda c, n, a: _reshape_rewrites(c, n, a),), array_api=_shape_xp("reshape", "shape"),
)  # fmt: skip
transpose_p = Primitive(
    "transpose", lambda x, axes: np.transpose(x, axes), _transpose_rule, 1, ("axes",),
    *linear(lambda t, axes: transpose(t, axes),
            lambda gy, x, axes: transpose(gy, tuple(int(i) for i in np.argsort(axes)))),
    batch=sb.TRANSPOSE, view=True, lower=_shape_lowering("transpose", "axes"),
    rewrites=(lambda c, n, a: _transpose_rewrites(c, n, a),),
    array_api=_shape_xp("permute_dims", "axes"),
)  # fmt: skip
broadcast_to_p = Primitive(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), _broadcast_to_rule, 1,
    ("shape",),
    # the transpose is the identity: the autodiff driver sums broadcast axes away, centrally
    *linear(lambda t, shape: broadcast_to(t, shape), lambda gy, x, shape: gy),
    batch=sb.BROADCAST_TO, view=True, lower=_shape_lowering("broadcast_to", "shape"),
    rewrites=(lambda c, n, a: _broadcast_to_rewrites(c, n, a),),
    array_api=_shape_xp("broadcast_to", "shape"),
)  # fmt: skip
squeeze_p = Primitive(
    "squeeze", lambda x, axis: np.squeeze(x, axis), _squeeze_rule, 1, ("axis",),
    *linear(lambda t, axis: squeeze(t, axis), lambda gy, x, axis: reshape(gy, x.shape)),
    batch=sb.SQUEEZE, view=True, lower=_shape_lowering("squeeze", "axis"),
    rewrites=(lambda c, n, a: _as_reshape(c, n, a),), array_api=_squeeze_xp,
)  # fmt: skip
expand_dims_p = Primitive(
    "expand_dims", lambda x, axis: np.expand_dims(x, axis), _expand_dims_rule, 1, ("axis",),
    *linear(lambda t, axis: expand_dims(t, axis), lambda gy, x, axis: reshape(gy, x.shape)),
    batch=sb.EXPAND_DIMS, view=True, lower=_shape_lowering("expand_dims", "axis"),
    rewrites=(lambda c, n, a: _as_reshape(c, n, a),), array_api=_expand_dims_xp,
)  # fmt: skip
concatenate_p = Primitive(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis), _concatenate_rule, None,
    ("axis",), vjp=lambda gy, *xs, y, axis: _concatenate_vjp(gy, xs, axis),
    jvp=lambda ts, *xs, y, axis: _join_jvp(concatenate, ts, xs, y, axis),
    batch=sb.CONCATENATE, fresh=True, lower=_join_lowering("concatenate"),
    array_api=_join_xp("concat"),
)  # fmt: skip
stack_p = Primitive(
    "stack", lambda *xs, axis: np.stack(xs, axis), _stack_rule, None, ("axis",),
    vjp=lambda gy, *xs, y, axis: tuple(
        getitem(gy, (slice(None),) * axis + (i,)) for i in range(len(xs))
    ),
    jvp=lambda ts, *xs, y, axis: _join_jvp(stack, ts, xs, y, axis),
    batch=sb.STACK, fresh=True, lower=_join_lowering("stack"), array_api=_join_xp("stack"),
)  # fmt: skip
getitem_p = Primitive(
    "getitem", _getitem_impl, _getitem_rule, None, ("index",),
    vjp=lambda gy, x, *arrays, y, index: (
        scatter_add_p.bind(gy, *arrays, shape=x.shape, index=index), *(None,) * len(arrays)
    ),
    jvp=lambda ts, x, *arrays, y, index: (
        None if ts[0] is None else getitem_p.bind(ts[0], *arrays, index=index)
    ),
    structural=lambda i: i > 0, batch=sb.GETITEM, view=True,
    lower=lambda a, p, lit: f"{a[0]}[{lit.index(p['index'], a[1:])}]",
    rewrites=(lambda c, n, a, *arrays: _getitem_rewrites(c, n, a, arrays),), array_api=_getitem_xp,
)  # fmt: skip
scatter_add_p = Primitive(
    "scatter_add", _scatter_add_impl, _scatter_add_rule, None, ("shape", "index"),
    vjp=lambda gy, g, *arrays, y, shape, index: (
        getitem_p.bind(gy, *arrays, index=index), *(None,) * len(arrays)
    ),
    jvp=lambda ts, g, *arrays, y, shape, index: (
        None if ts[0] is None else scatter_add_p.bind(ts[0], *arrays, shape=shape, index=index)
    ),
    structural=lambda i: i > 0, batch=sb.SCATTER_ADD, fresh=True, lower=CALL_IMPL,
    array_api=_scatter_add_xp,
)  # fmt: skip

PRIMITIVES = (reshape_p, transpose_p, broadcast_to_p, squeeze_p, expand_dims_p, concatenate_p,
              stack_p, getitem_p, scatter_add_p)  # fmt: skip


def _zeros(x, dtype):
    return broadcast_to(np.zeros((), dtype=dtype), x.shape)


def _concatenate_vjp(gy, xs, axis):
    grads, start = [], 0
    for x in xs:
        stop = start + x.shape[axis]
        index = [slice(None)] * gy.ndim
        index[axis] = slice(start, stop)
        grads.append(getitem(gy, tuple(index)))
        start = stop
    return tuple(grads)


def _join_jvp(join, ts, xs, y, axis):
    if all(t is None for t in ts):
        return None
    return join([_zeros(x, y.dtype) if t is None else t for t, x in zip(ts, xs)], axis)


# ----- rewrites (called by the optimiser with its rewriting context ``c``) -----


def _reshape_rewrites(c, n, a):
    shape = c.shape(n)
    if c.shape(a) == shape:
        return a, "reshape(same)"
    if c.op(a) in ("reshape", "squeeze", "expand_dims"):
        inner = c.arg0(a)
        if c.shape(inner) == shape:
            return inner, "reshape chain"
        return c.new("reshape", [inner], {"shape": shape}, n), "reshape chain"
    return None, None


def _as_reshape(c, n, a):
    return c.new("reshape", [a], {"shape": c.shape(n)}, n), "squeeze/expand_dims->reshape"


def _transpose_rewrites(c, n, a):
    axes = tuple(c.params(n)["axes"])
    if axes == tuple(range(len(axes))):
        return a, "transpose(identity)"
    if c.op(a) == "transpose":
        inner_axes = tuple(c.params(a)["axes"])
        composed = tuple(int(inner_axes[i]) for i in axes)
        inner = c.arg0(a)
        if composed == tuple(range(len(composed))):
            return inner, "transpose chain"
        return c.new("transpose", [inner], {"axes": composed}, n), "transpose chain"
    return None, None


def _broadcast_to_rewrites(c, n, a):
    if c.shape(a) == c.shape(n):
        return a, "broadcast_to(same)"
    if c.op(a) == "broadcast_to":
        inner = c.arg0(a)
        return c.new("broadcast_to", [inner], {"shape": c.shape(n)}, n), "broadcast chain"
    return None, None


def _getitem_rewrites(c, n, a, arrays):
    if arrays:
        return None, None
    index = c.params(n)["index"]
    shape = c.shape(a)
    if len(index) == len(shape) and all(
        it[0] == "slice" and it[1] == 0 and it[2] == dim and it[3] == 1
        for it, dim in zip(index, shape)
    ):
        return a, "getitem(full slice)"
    return None, None


# ----- index normalisation -----


def _is_int(i) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def normalize_index(x, index):
    """Turn a NumPy index into (static index items, index-array operands)."""
    items = index if isinstance(index, tuple) else (index,)
    expanded, masks = [], {}  # masks: position in expanded -> the mask's shape
    for it in items:  # boolean masks become integer arrays (only concrete masks)
        if isinstance(it, Tracer) and it.dtype == np.bool_:
            it._trace.blamed.add(it.node)  # a captured mask is frozen instead (tracer.captures)
            raise TracingError(
                f"indexing with a traced boolean mask has a data-dependent shape and cannot be "
                f"traced (at {user_location()}); use np.where(mask, x, 0) instead"
            )
        if isinstance(it, (list, np.ndarray)) and not isinstance(it, Tracer):
            arr = np.asarray(it)
            if arr.dtype == np.bool_:
                if arr.ndim == 0:
                    raise UnsupportedError(
                        f"indexing with a 0-d boolean is not supported (at {user_location()})"
                    )
                masks[len(expanded)] = arr.shape
                expanded.extend(np.nonzero(arr))
                continue
            if arr.dtype.kind not in "iu" and arr.size:
                raise TracegradError(f"getitem: index arrays must be integers, got {arr.dtype}")
            it = arr.astype(np.intp, copy=False)
        expanded.append(it)
    consumed = builtins.sum(1 for it in expanded if it is not None and it is not Ellipsis)
    if builtins.sum(1 for it in expanded if it is Ellipsis) > 1:
        raise TracegradError("getitem: an index can only have a single ellipsis ('...')")
    if consumed > len(x.shape):
        raise IndexError(
            f"getitem: too many indices for a traced array: {format_aval(x.shape, x.dtype)} is "
            f"{len(x.shape)}-dimensional, "
            f"but {consumed} were indexed (at {user_location()})"
        )
    spec, arrays, dim = [], [], 0
    for pos, it in enumerate(expanded):
        mask = masks.get(pos)
        if mask is not None and tuple(x.shape[dim : dim + len(mask)]) != mask:
            raise IndexError(
                f"boolean index of shape {mask} does not match the indexed array's "
                f"dimensions {tuple(x.shape[dim : dim + len(mask)])} (at {user_location()})"
            )
        if it is Ellipsis:
            if len(x.shape) == consumed:  # covers no axis, but still separates array indices
                spec.append(("ellipsis",))
            for _ in range(len(x.shape) - consumed):
                spec.append(("slice", 0, x.shape[dim], 1))
                dim += 1
        elif it is None:
            spec.append(("newaxis",))
        elif isinstance(it, slice):
            start, stop, step = it.indices(x.shape[dim])
            if step < 0 and start < 0:  # starts before element 0: empty (-1 would wrap)
                start, stop = 0, 0
            elif step < 0 and stop < 0:  # runs down to element 0 inclusive
                stop = None
            spec.append(("slice", start, stop, step))
            dim += 1
        elif _is_int(it):
            i = int(it)
            if not -x.shape[dim] <= i < x.shape[dim]:
                raise IndexError(
                    f"getitem: index {i} is out of bounds for axis {dim} with size {x.shape[dim]} "
                    f"of {format_aval(x.shape, x.dtype)} (at {user_location()})"
                )
            spec.append(("int", i % x.shape[dim]))
            dim += 1
        elif isinstance(it, (np.ndarray, Tracer)):
            if isinstance(it, np.ndarray) and it.size:
                lo, hi = int(it.min()), int(it.max())
                if lo < -x.shape[dim] or hi >= x.shape[dim]:
                    bad = hi if hi >= x.shape[dim] else lo
                    raise IndexError(
                        f"getitem: index {bad} is out of bounds for axis {dim} with size "
                        f"{x.shape[dim]} of {format_aval(x.shape, x.dtype)} (at {user_location()})"
                    )
            spec.append(("array", len(arrays)))
            arrays.append(it)
            dim += 1
        else:
            raise UnsupportedError(
                f"unsupported index {it!r} of type {type(it).__name__} (at {user_location()}): "
                "use ints, slices, None, ..., or integer arrays"
            )
    return tuple(spec), arrays


# ----- user-facing functions -----


def getitem(x, index):
    if find_trace((x, *(index if isinstance(index, tuple) else (index,)))) is None:
        return np.asarray(x)[index]
    if not isinstance(x, Tracer):
        x = np.asarray(x)
    spec, arrays = normalize_index(x, index)
    return bind(getitem_p, x, *arrays, weak=getattr(x, "weak", False), index=spec)


def _resolve_shape(x, shape):
    if not isinstance(shape, (tuple, list)):
        shape = (shape,)
    try:
        shape = [operator.index(d) for d in shape]
    except TypeError:
        raise TracegradError(f"reshape: shape must be ints, got {shape!r}") from None
    size = x.size if isinstance(x, Tracer) else np.size(x)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: can only specify one unknown dimension, got {tuple(shape)}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ShapeError(
                f"reshape: cannot reshape array of size {size} into shape {tuple(shape)}"
            )
        shape[shape.index(-1)] = size // known
    return tuple(shape)


def reshape(x, shape, order="C", *, newshape=None, copy=None):
    if newshape is not None:
        shape = newshape
    if find_trace((x,)) is None:
        return np.reshape(x, shape, order=order)
    if order == "F":  # Fortran order: reverse the axes, reshape in C order, reverse back
        return transpose(reshape(transpose(x), _resolve_shape(x, shape)[::-1]))
    if order != "C":
        raise UnsupportedError(
            f"reshape(order={order!r}) is not supported ({user_location()}): it depends on the "
            "memory layout of a concrete array; write order='C' or order='F'"
        )
    shape = _resolve_shape(x, shape)
    if shape == x.shape:
        return x
    return bind(reshape_p, x, weak=x.weak, shape=shape)


def transpose(x, axes=None):
    if find_trace((x,)) is None:
        return np.transpose(x, axes)
    nd = x.ndim
    axes = (
        tuple(reversed(range(nd)))
        if axes is None
        else tuple(normalize_axis("transpose", a, nd) for a in axes)
    )
    if axes == tuple(range(nd)):
        return x
    return bind(transpose_p, x, weak=x.weak, axes=axes)


def swapaxes(x, axis1, axis2):
    if find_trace((x,)) is None:
        return np.swapaxes(x, axis1, axis2)
    perm = list(range(x.ndim))
    a, b = normalize_axis("swapaxes", axis1, x.ndim), normalize_axis("swapaxes", axis2, x.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x, source, destination):
    if find_trace((x,)) is None:
        return np.moveaxis(x, source, destination)
    dst = [normalize_axis("moveaxis", d, x.ndim) for d in np.atleast_1d(destination)]
    if _is_int(source):
        src = (normalize_axis("moveaxis", source, x.ndim),)
    else:
        src = tuple(normalize_axis("moveaxis", s, x.ndim) for s in source)
    order = [n for n in range(x.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def broadcast_to(x, shape, subok=False):
    if find_trace((x,)) is None:
        return np.broadcast_to(x, shape)
    shape = (int(shape),) if _is_int(shape) else tuple(int(d) for d in shape)
    if not isinstance(x, Tracer):
        x = np.asarray(x)
    if tuple(x.shape) == shape:
        return x
    return bind(broadcast_to_p, x, weak=getattr(x, "weak", False), shape=shape)


def squeeze(x, axis=None):
    if find_trace((x,)) is None:
        return np.squeeze(x, axis)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes("squeeze", axis, x.ndim)
    if not axes:
        return x
    return bind(squeeze_p, x, weak=x.weak, axis=axes)


def expand_dims(x, axis):
    if find_trace((x,)) is None:
        return np.expand_dims(x, axis)
    n = 1 if _is_int(axis) else len(axis)
    axes = normalize_axes("expand_dims", axis, x.ndim + n)
    return bind(expand_dims_p, x, weak=x.weak, axis=axes)


def ravel(x, order="C"):
    if find_trace((x,)) is None:
        return np.ravel(x, order)
    return reshape(x, (-1,), order=order)


def _operands(xs, name):
    if isinstance(xs, Tracer):
        raise UnsupportedError(f"{name}: pass a sequence of arrays, not one traced array")
    return [x if isinstance(x, Tracer) else np.asarray(x) for x in xs]


def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None or dtype is not None:
        raise UnsupportedError("np.concatenate(out=..., dtype=...) is not supported when tracing")
    xs = _operands(arrays, "concatenate")
    if find_trace(xs) is None:
        return np.concatenate(xs, axis)
    if axis is None:
        return concatenate([ravel(x) for x in xs], 0)
    axis = normalize_axis("concatenate", axis, max(1, xs[0].ndim))
    return bind(concatenate_p, *xs, axis=axis)


def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None or dtype is not None:
        raise UnsupportedError("np.stack(out=..., dtype=...) is not supported when tracing")
    xs = _operands(arrays, "stack")
    if find_trace(xs) is None:
        return np.stack(xs, axis)
    nd = xs[0].ndim if xs else 0
    axis = normalize_axis("stack", axis, nd + 1)
    return bind(stack_p, *xs, axis=axis)


def atleast_1d(*arys):
    out = [x if x.ndim >= 1 else reshape(x, (1,)) for x in map(_operand, arys)]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_2d(*arys):
    out = [
        x if x.ndim >= 2 else reshape(x, (1,) * (2 - x.ndim) + x.shape) for x in map(_operand, arys)
    ]
    return out[0] if len(out) == 1 else tuple(out)


def _operand(x):
    return x if isinstance(x, Tracer) else np.asarray(x)


def hstack(arrays, *, dtype=None, casting="same_kind"):
    xs = [atleast_1d(x if isinstance(x, Tracer) else np.asarray(x)) for x in arrays]
    return concatenate(xs, axis=0 if xs[0].ndim == 1 else 1, dtype=dtype)


def vstack(arrays, *, dtype=None, casting="same_kind"):
    xs = [atleast_2d(x if isinstance(x, Tracer) else np.asarray(x)) for x in arrays]
    return concatenate(xs, axis=0, dtype=dtype)


def take(a, indices, axis=None, out=None, mode=None):
    """``np.take``: ``getitem`` with one index array; also how a constant array (an
    embedding table captured from a closure) is indexed by a traced index. ``mode="clip"``
    clips the indices; ``"wrap"`` needs concrete ones."""
    traced_wrap = mode == "wrap" and isinstance(indices, Tracer)
    if out is not None or mode not in (None, "raise", "clip", "wrap") or traced_wrap:
        raise UnsupportedError(
            f"np.take(out=..., mode={mode!r}) is not supported when tracing (at "
            f"{user_location()}); mode='clip' is, and mode='wrap' with concrete indices"
        )
    if find_trace((a, indices)) is None:
        return np.take(a, indices, axis=axis, mode=mode or "raise")
    if not isinstance(a, Tracer):
        a = np.asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis("take", axis, a.ndim)
    if mode in ("clip", "wrap"):
        n = a.shape[axis]
        if mode == "wrap":
            indices = np.mod(indices, n)
        elif isinstance(indices, Tracer):
            indices = ew.clip(indices, 0, n - 1)
        else:
            indices = np.clip(indices, 0, n - 1)
    return getitem(a, (slice(None),) * axis + (indices,))


def flip(x, axis=None):
    if find_trace((x,)) is None:
        return np.flip(x, axis)
    axes = normalize_axes("flip", axis, x.ndim)
    return getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None)
                            for i in range(x.ndim)))  # fmt: skip


def shape(x):
    return tuple(x.shape)


def ndim(x):
    return len(x.shape)


def size(x, axis=None):
    return int(np.prod(x.shape, dtype=np.int64)) if axis is None else x.shape[axis]


def _like(fill):
    def like(x, dtype=None, order="K", subok=True, shape=None, *, device=None):
        shp = x.shape if shape is None else shape
        return np.full(shp, fill, dtype=dtype or x.dtype)

    return like


def full_like(x, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    if isinstance(fill_value, Tracer):
        return broadcast_to(ew.astype(fill_value, dtype or x.dtype), x.shape)
    return np.full(x.shape if shape is None else shape, fill_value, dtype=dtype or x.dtype)


def copy(x, order="K", subok=False):
    return x


NUMPY = {
    np.reshape: reshape, np.transpose: transpose, np.swapaxes: swapaxes, np.moveaxis: moveaxis,
    np.broadcast_to: broadcast_to, np.squeeze: squeeze, np.expand_dims: expand_dims,
    np.ravel: ravel, np.concatenate: concatenate, np.stack: stack, np.hstack: hstack,
    np.vstack: vstack, np.atleast_1d: atleast_1d, np.atleast_2d: atleast_2d, np.flip: flip,
    np.take: take, np.shape: shape, np.ndim: ndim, np.size: size, np.zeros_like: _like(0),
    np.ones_like: _like(1), np.empty_like: _like(0), np.full_like: full_like, np.copy: copy,
}  # fmt: skip


# ----- ndarray methods and attributes -----


def _reshape_method(x, *shape, order="C", copy=None):
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return reshape(x, shape, order=order)


def _transpose_method(x, *axes):
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return transpose(x, axes or None)


METHODS = {
    "reshape": _reshape_method, "transpose": _transpose_method, "swapaxes": swapaxes,
    "squeeze": squeeze, "ravel": lambda x, order="C": ravel(x, order),
    "flatten": lambda x, order="C": ravel(x, order), "copy": lambda x, order="C": x,
    "take": take,
}  # fmt: skip
ATTRIBUTES = {"T": lambda x: transpose(x), "mT": lambda x: swapaxes(x, -1, -2)}

__all__ = [
    "atleast_1d", "atleast_2d", "broadcast_to", "concatenate", "expand_dims", "flip", "getitem",
    "hstack", "moveaxis", "ravel", "reshape", "squeeze", "stack", "swapaxes", "take",
    "transpose", "vstack",
]  # fmt: skip
