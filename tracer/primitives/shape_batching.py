"""Batching rules of the shape ops (``shape_ops``): reshape, transpose, broadcast_to, squeeze,
expand_dims, concatenate, stack, getitem and scatter_add.

Each is a ``batching.SharedRule``, ``rule(prim, args, dims, **params) -> (out, out_dim)``
(the interface is in ``batching``); ``shape_ops`` declares them and this module
imports no primitive module (it binds the primitive it is given and moves axes
with NumPy calls on traced values). Axes move only where the op needs them
elsewhere: a transpose, squeeze or expand_dims keeps the batch axis in place.
"""

from __future__ import annotations

import numpy as np

from tracer.primitives.batching import (
    SharedRule,
    batch_size,
    batched_axis,
    moveaxis,
    per_example_ndim,
    to_front,
)
from tracer.staging import bind


def _reshape(prim, args, dims, *, shape):
    (x,), (d,) = args, dims
    x = moveaxis(x, d, 0)
    return bind(prim, x, shape=(x.shape[0], *shape)), 0


def _transpose(prim, args, dims, *, axes):
    (x,), (d,) = args, dims
    perm = [batched_axis(a, d) for a in axes]
    perm.insert(d, d)  # the batch axis stays at d
    return bind(prim, x, axes=tuple(perm)), d


def _broadcast_to(prim, args, dims, *, shape):
    # NumPy aligns trailing axes: the example's axes, batch axis among them, go last
    (x,), (d,) = args, dims
    at = len(shape) - per_example_ndim(x, d) + d
    shape = tuple(shape)
    return bind(prim, x, shape=shape[:at] + (x.shape[d],) + shape[at:]), at


def _squeeze(prim, args, dims, *, axis):
    (x,), (d,) = args, dims
    out_dim = d - sum(a < d for a in axis)
    return bind(prim, x, axis=tuple(batched_axis(a, d) for a in axis)), out_dim


def _expand_dims(prim, args, dims, *, axis):
    # the batch axis goes just before the example axis it preceded (last if none)
    (x,), (d,) = args, dims
    ndim = per_example_ndim(x, d) + len(axis)
    kept = [i for i in range(ndim) if i not in axis]
    at = kept[d] if d < len(kept) else ndim
    return bind(prim, x, axis=tuple(a + (a >= at) for a in axis)), at


def _join(args, dims):
    """Operands of a join (concatenate, stack), and their batch axis: where they all have
    it already, or first (an unbatched operand is repeated for every example)."""
    if None not in dims and len(set(dims)) == 1:
        return list(args), dims[0]
    size = batch_size(args, dims)
    return [to_front(x, d, size) for x, d in zip(args, dims)], 0


def _concatenate(prim, args, dims, *, axis):
    xs, d = _join(args, dims)
    return bind(prim, *xs, axis=batched_axis(axis, d)), d


def _stack(prim, args, dims, *, axis):
    xs, d = _join(args, dims)
    if axis > d:  # the new axis comes after the batch axis
        return bind(prim, *xs, axis=axis + 1), d
    return bind(prim, *xs, axis=axis), d + 1


# ----- indexing -----
# In NumPy's rule, index arrays (and ints, when arrays are present) broadcast together;
# their axes go where the first of them stands when they are adjacent in the index, in
# front of every other axis when they are not. The rules keep track of that block.


def _array_block(index) -> tuple[int, bool]:
    """Where the index arrays' axes are in one example's result, and whether the arrays
    are adjacent in the index (an index without arrays: ``(0, True)``)."""
    if not any(item[0] == "array" for item in index):
        return 0, True
    adv = [i for i, item in enumerate(index) if item[0] in ("array", "int")]
    if adv != list(range(adv[0], adv[-1] + 1)):
        return 0, False
    return sum(1 for item in index[: adv[0]] if item[0] in ("slice", "newaxis")), True


def _example_shape(x, d):
    return tuple(np.shape(x)) if d is None else x.shape[:d] + x.shape[d + 1 :]


def _batched_arrays(arrays, dims, size):
    """Index arrays with their batch axis first and broadcastable against each other; and
    an iota ``arange(size)`` shaped to broadcast with them (it picks each example)."""
    nb = len(np.broadcast_shapes(*(_example_shape(a, d) for a, d in zip(arrays, dims))))
    out = []
    for a, d in zip(arrays, dims):
        if d is not None:
            a = moveaxis(a, d, 0)
            a = np.reshape(a, (size,) + (1,) * (nb - a.ndim + 1) + tuple(a.shape[1:]))
        out.append(a)
    iota = np.arange(size, dtype=np.intp).reshape((size,) + (1,) * nb)
    return out, iota, nb


def _block_perm(ndim: int, first: int, nb: int, to: int) -> tuple:
    """The permutation of ``ndim`` axes that moves the ``nb`` axes at ``first`` to ``to``."""
    rest = [i for i in range(ndim) if not first <= i < first + nb]
    return tuple(rest[:to] + list(range(first, first + nb)) + rest[to:])


def _getitem(prim, args, dims, *, index):
    x, arrays = args[0], args[1:]
    dx, darrays = dims[0], dims[1:]
    block, adjacent = _array_block(index)
    if all(d is None for d in darrays):  # one index for every example: select on axis 0 too
        x = moveaxis(x, dx, 0)
        out = bind(prim, x, *arrays, index=(("slice", 0, x.shape[0], 1), *index))
        if not adjacent:  # the arrays' axes come before the batch axis
            return out, len(np.broadcast_shapes(*(a.shape for a in arrays)))
        return out, 0
    size = batch_size(args, dims)
    arrays, iota, nb = _batched_arrays(arrays, darrays, size)
    if dx is None:  # the batch axis is the arrays' first axis
        return bind(prim, x, *arrays, index=index), block
    # example i reads x[i][index]: index the batch axis with the iota, in front of the
    # arrays' axes; the result is (batch, arrays' axes, other axes): put the block back
    x = moveaxis(x, dx, 0)
    out = bind(prim, x, *arrays, iota, index=(("array", len(arrays)), *index))
    if block:
        out = np.transpose(out, (0, *(1 + i for i in _block_perm(out.ndim - 1, 0, nb, block))))
    return out, 0


def _scatter_add(prim, args, dims, *, shape, index):
    # the adjoint of _getitem: the update takes the layout _getitem's result has
    g, arrays = args[0], args[1:]
    dg, darrays = dims[0], dims[1:]
    block, adjacent = _array_block(index)
    size = batch_size(args, dims)
    shape = (size, *shape)
    if all(d is None for d in darrays):
        front = 0 if adjacent else len(np.broadcast_shapes(*(a.shape for a in arrays)))
        g = moveaxis(g, dg, front)
        return bind(prim, g, *arrays, shape=shape, index=(("slice", 0, size, 1), *index)), 0
    arrays, iota, nb = _batched_arrays(arrays, darrays, size)
    g = to_front(g, dg, size)
    if block:
        g = np.transpose(g, (0, *(1 + i for i in _block_perm(g.ndim - 1, block, nb, 0))))
    return bind(prim, g, *arrays, iota, shape=shape, index=(("array", len(arrays)), *index)), 0


RESHAPE = SharedRule(_reshape)
TRANSPOSE = SharedRule(_transpose)
BROADCAST_TO = SharedRule(_broadcast_to)
SQUEEZE = SharedRule(_squeeze)
EXPAND_DIMS = SharedRule(_expand_dims)
CONCATENATE = SharedRule(_concatenate)
STACK = SharedRule(_stack)
GETITEM = SharedRule(_getitem)
SCATTER_ADD = SharedRule(_scatter_add)
