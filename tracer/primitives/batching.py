"""Batching rules (``vmap``): the interface, helpers to write rules with, and the shared rules.

A primitive's ``batch`` fact says how to apply it to a batch of examples at once::

    batch(args, dims, **params) -> (out, out_dim)

``args`` are its operands as traced values of the batched graph being built;
``dims[i]`` is the axis of ``args[i]`` that runs over the examples (its *batch
axis*), or None when operand ``i`` is the same for every example (it then has its
per-example shape). At least one operand is batched. ``params`` are the node's
static parameters, which describe one example. The rule returns the batched
result, the per-example result with a batch axis inserted, and where that axis is
(``out_dim``, an int). It stages traceable ops only, and moves a batch axis only
where the op needs it somewhere else: an elementwise op on operands batched at
the same place leaves them there.

For example ``sum(x, axis=(0,))`` of a batch ``x`` whose batch axis is 0 sums axis 1
and returns ``(out, 0)``; ``exp`` applies itself and returns the operand's axis.

A rule shared by a family of primitives is written once for any of them,
``rule(prim, args, dims, **params)``, and declared with ``batch=SharedRule(rule)``;
the declaration binds it to its primitive. ``ELEMENTWISE`` (which ``base.unary``
and ``base.binary`` give every elementwise declaration), ``REDUCTION`` (an
``axis`` tuple and ``keepdims``), ``ARG_REDUCTION`` (``argmax``'s ``axis`` int
or None), ``ALONG_AXIS`` (``cumsum``'s or ``sort``'s ``axis`` int) and
``MATRIX_STACK`` (``np.linalg``'s functions of stacks of matrices) are such rules;
``tracer.primitives.shape_batching`` has those of the shape ops.

This module is imported by ``base``, below every primitive module, so its helpers
move axes by calling NumPy on traced values (which dispatches to the shape ops)
rather than by importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracer.staging import bind


@dataclass(frozen=True)
class SharedRule:
    """A batching rule written for a family of primitives: ``rule(prim, args, dims, **params)``.

    ``Primitive(..., batch=SharedRule(rule))`` binds it to that primitive, so its
    ``batch`` is ``rule(that primitive, args, dims, **params)``.
    """

    rule: Callable

    def bind_to(self, prim) -> Callable:
        rule = self.rule

        def batch(args, dims, **params):
            return rule(prim, args, dims, **params)

        batch.__qualname__ = f"{getattr(rule, '__name__', 'rule')}[{prim.name}]"
        return batch


# ----- helpers for writing rules -----


def batch_size(args, dims) -> int:
    """The number of examples: the size of any batched operand's batch axis."""
    for x, d in zip(args, dims):
        if d is not None:
            return x.shape[d]
    raise ValueError("batch_size: no operand is batched")


def moveaxis(x, src: int, dst: int):
    """``x`` with axis ``src`` moved to ``dst`` (``x`` itself when they are equal)."""
    return x if src == dst else np.moveaxis(x, src, dst)


def to_front(x, d: int | None, size: int):
    """``x`` with its batch axis first; an unbatched ``x`` is broadcast to ``size`` examples."""
    if d is None:
        return np.broadcast_to(x, (size, *np.shape(x)))
    return moveaxis(x, d, 0)


def per_example_ndim(x, d: int | None) -> int:
    """The rank of one example of ``x``."""
    return len(np.shape(x)) - (d is not None)


def batched_axis(axis: int, d: int) -> int:
    """Where per-example axis ``axis`` (non-negative) is in an array batched at axis ``d``."""
    return axis + (axis >= d)


def insert_axis(shape, d: int, size: int) -> tuple:
    """``shape`` with a batch axis of ``size`` inserted at ``d``."""
    shape = tuple(shape)
    return shape[:d] + (size,) + shape[d:]


# ----- shared rules -----


def align_stacks(args, dims, cores) -> tuple[list, int]:
    """Operands of an op on stacks of core arrays, arranged so that NumPy's broadcasting
    of the stacks lines up their examples; and the batch axis of the result.

    The last ``cores[i]`` axes of operand ``i`` are one core array (a matrix for
    ``np.linalg``), its leading axes a stack, broadcast against the other operands'
    stacks; the result is the broadcast stack followed by the core axes of the
    result. When every batched operand's batch axis is a stack axis landing at the
    same place of the broadcast stack, and the unbatched operands' stacks broadcast
    against the axes after it, nothing moves. Otherwise the batched operands get
    their batch axis first, followed by size-1 axes up to the broadcast stack's rank.
    """
    ranks = [per_example_ndim(x, d) - c for x, d, c in zip(args, dims, cores)]  # stack ranks
    rank = max(ranks)
    lands = {rank - r + d for r, d in zip(ranks, dims) if d is not None}
    if len(lands) == 1 and all(d is None or d <= r for r, d in zip(ranks, dims)):
        (at,) = lands
        if all(r <= rank - at for r, d in zip(ranks, dims) if d is None):
            return list(args), at
    out = []
    for x, d, r in zip(args, dims, ranks):
        if d is not None:
            x = moveaxis(x, d, 0)
            if r < rank:
                shape = np.shape(x)
                x = np.reshape(x, (shape[0],) + (1,) * (rank - r) + tuple(shape[1:]))
        out.append(x)
    return out, 0


def align_elementwise(args, dims) -> tuple[list, int]:
    """Operands of a broadcasting elementwise op arranged so that NumPy's broadcasting
    lines up their examples; and the batch axis of the result (``align_stacks`` of
    operands whose core arrays are scalars)."""
    return align_stacks(args, dims, [0] * len(args))


def elementwise(prim, args, dims, **params):
    """An elementwise op (any number of operands, broadcasting): align, then apply."""
    aligned, out_dim = align_elementwise(args, dims)
    return bind(prim, *aligned, **params), out_dim


def reduce_axes(prim, args, dims, *, axis, keepdims):
    """A reduction over ``axis`` (a sorted tuple of per-example axes) with ``keepdims``:
    reduce the same axes of the batch; the batch axis stays where it is."""
    (x,), (d,) = args, dims
    axes = tuple(batched_axis(a, d) for a in axis)
    out_dim = d if keepdims else d - sum(a < d for a in axis)
    return bind(prim, x, axis=axes, keepdims=keepdims), out_dim


def reduce_arg(prim, args, dims, *, axis, keepdims):
    """``argmax``/``argmin`` over one ``axis``, or over the flattened example (``None``)."""
    (x,), (d,) = args, dims
    if axis is not None:
        out_dim = d if keepdims else d - (axis < d)
        return bind(prim, x, axis=batched_axis(axis, d), keepdims=keepdims), out_dim
    x = moveaxis(x, d, 0)
    size, rest = x.shape[0], x.shape[1:]
    flat = np.reshape(x, (size, int(np.prod(rest, dtype=np.int64))))
    out = bind(prim, flat, axis=1, keepdims=False)
    if keepdims:
        out = np.reshape(out, (size,) + (1,) * len(rest))
    return out, 0


def matrix_stack(prim, args, dims, **params):
    """An ``np.linalg`` function of stacks of matrices (each operand's last two axes), whose
    result is the broadcast stack followed by its own core axes: align, then apply."""
    aligned, out_dim = align_stacks(args, dims, [2] * len(args))
    return bind(prim, *aligned, **params), out_dim


def along_axis(prim, args, dims, *, axis, **params):
    """An op along one ``axis`` (an int) whose result has its operand's shape (scans, sorts,
    partitions): the same axis of the batch; the batch axis stays where it is."""
    (x,), (d,) = args, dims
    return bind(prim, x, axis=batched_axis(axis, d), **params), d


ELEMENTWISE = SharedRule(elementwise)
REDUCTION = SharedRule(reduce_axes)
ARG_REDUCTION = SharedRule(reduce_arg)
MATRIX_STACK = SharedRule(matrix_stack)


ALONG_AXIS = SharedRule(along_axis)
