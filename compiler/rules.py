"""Local derivatives: one rule per differentiable primitive, reverse (vjp) and forward (jvp).

Rules are written with tracegrad's own traceable ops, so the nodes they create
are ordinary primitives and a gradient graph can be differentiated again.
Vocabulary as in DeZero: ``gy`` is the gradient arriving at the output ``y``,
``x0, x1`` are the operands; a vjp returns one gradient per operand (``None``
for none), in the output's shape: the autodiff driver reduces broadcast axes
and casts to each operand's dtype in one central place. A jvp receives the
operands' tangents ``t0, t1`` (``None`` for a zero tangent) and returns the
tangent of ``y``.

Values at kinks (documented in docs/derivatives.md as well):

============================  =====================================================
``abs'(0)``, ``sign``         0 (``sign(0) = 0``), as PyTorch (JAX gives ``abs'(0) = 1``)
``maximum``/``minimum`` tie   split evenly, 1/2 to each operand (as ``jnp.maximum``
                              and ``torch.maximum``); so ``np.maximum(x, 0)`` has
                              slope 1/2 at 0. Write relu as ``np.where(x > 0, x, 0)``
                              for relu'(0) = 0 (as ``jax.nn.relu``/``torch.relu``).
``max``/``min`` reductions    split evenly among tied entries (as JAX)
``clip`` at a bound           1 (the bound is inside: ``lo <= x <= hi``, as PyTorch);
                              array bounds make clip maximum/minimum: 1/2
``sqrt'(0)``                  inf; ``log'(0)`` inf; ``pow`` wrt exponent at x0 = 0: 0;
                              ``pow`` wrt base where the exponent is 0: 0
floor, ceil, round, sign,     0 everywhere (they are not differentiable; comparisons,
comparisons, argmax/argmin    logic and integer outputs carry no gradient)
============================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracer import ops
from tracer.primitives import PRIMITIVES
from tracer.primitives.shape_ops import getitem_p, scatter_add_p


@dataclass(frozen=True)
class Rule:
    """The local derivative of one primitive.

    Attributes:
        vjp: ``vjp(gy, *xs, y=y, **params) -> tuple`` of one gradient per operand.
        jvp: ``jvp(ts, *xs, y=y, **params) -> tangent of y``; ``ts`` has one tangent
            per operand, ``None`` where the tangent is zero.
    """

    vjp: Callable
    jvp: Callable


def _add_tangents(*terms):
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else ops.add(out, t)
    return out


def elementwise(partials: Callable) -> Rule:
    """A rule from the partial derivatives ``partials(*xs, y) -> (dy/dx0, dy/dx1, ...)``."""

    def vjp(gy, *xs, y, **params):
        return tuple(ops.mul(gy, p) for p in partials(*xs, y=y, **params))

    def jvp(ts, *xs, y, **params):
        ps = partials(*xs, y=y, **params)
        return _add_tangents(*(None if t is None else ops.mul(t, p) for t, p in zip(ts, ps)))

    return Rule(vjp, jvp)


def linear(fn: Callable, transpose: Callable) -> Rule:
    """A rule for an op linear in its (single) operand: jvp applies it, vjp its transpose."""

    def jvp(ts, x, *rest, y, **params):
        return None if ts[0] is None else fn(ts[0], *rest, **params)

    def vjp(gy, x, *rest, y, **params):
        return (transpose(gy, x, *rest, **params),) + (None,) * len(rest)

    return Rule(vjp, jvp)


def _tie_split(x0, x1, wins):
    """Weight 1 where x0 wins, 1/2 where tied, 0 where x1 wins (dtype of the result)."""
    dt = np.result_type(x0.dtype, x1.dtype)
    w = ops.astype(wins(x0, x1), dt)
    tie = ops.astype(ops.equal(x0, x1), dt)
    return ops.add(w, ops.mul(tie, 0.5))


# ----- unary elementwise -----
def _neg_t(gy, x):
    return ops.neg(gy)


neg = linear(lambda t: ops.neg(t), _neg_t)
exp = elementwise(lambda x, y: (y,))
log = elementwise(lambda x, y: (ops.reciprocal(x),))
sin = elementwise(lambda x, y: (ops.cos(x),))
cos = elementwise(lambda x, y: (ops.neg(ops.sin(x)),))
tan = elementwise(lambda x, y: (ops.add(1.0, ops.square(y)),))
tanh = elementwise(lambda x, y: (ops.sub(1.0, ops.square(y)),))
sqrt = elementwise(lambda x, y: (ops.div(0.5, y),))
abs_ = elementwise(lambda x, y: (ops.sign(x),))
square = elementwise(lambda x, y: (ops.mul(2.0, x),))
reciprocal = elementwise(lambda x, y: (ops.neg(ops.square(y)),))
log1p = elementwise(lambda x, y: (ops.reciprocal(ops.add(1.0, x)),))
expm1 = elementwise(lambda x, y: (ops.add(y, 1.0),))


# ----- binary elementwise -----
def _add_vjp(gy, x0, x1, y):
    return gy, gy


def _sub_vjp(gy, x0, x1, y):
    return gy, ops.neg(gy)


add = Rule(_add_vjp, lambda ts, x0, x1, y: _add_tangents(*ts))
sub = Rule(
    _sub_vjp,
    lambda ts, x0, x1, y: _add_tangents(ts[0], None if ts[1] is None else ops.neg(ts[1])),
)
mul = elementwise(lambda x0, x1, y: (x1, x0))
div = elementwise(lambda x0, x1, y: (ops.reciprocal(x1), ops.neg(ops.div(y, x1))))


def _pow_partials(x0, x1, y):
    # d/dx0 x0**x1 = x1 * x0**(x1 - 1); taken as 0 where x1 == 0 (0 * 0**-1 would be nan),
    # as JAX and PyTorch do, so x**0 and high derivatives of x**n are finite at 0
    zero = np.zeros((), dtype=y.dtype)
    d0 = ops.where(ops.equal(x1, 0.0), zero, ops.mul(x1, ops.power(x0, ops.sub(x1, 1.0))))
    # d/dx1 x0**x1 = log(x0) * y; taken as 0 where x0 == 0 (as JAX does)
    safe = ops.where(ops.equal(x0, 0.0), np.ones((), x0.dtype), x0)
    return d0, ops.mul(ops.log(safe), y)


pow_ = elementwise(_pow_partials)
maximum = elementwise(
    lambda x0, x1, y: (_tie_split(x0, x1, ops.greater), _tie_split(x1, x0, ops.greater))
)
minimum = elementwise(
    lambda x0, x1, y: (_tie_split(x0, x1, ops.less), _tie_split(x1, x0, ops.less))
)


# ----- selection and casts -----
def _where_vjp(gy, c, x0, x1, y):
    zero = np.zeros((), dtype=gy.dtype)
    return None, ops.where(c, gy, zero), ops.where(c, zero, gy)


def _where_jvp(ts, c, x0, x1, y):
    _, t0, t1 = ts
    if t0 is None and t1 is None:
        return None
    zero = np.zeros((), dtype=y.dtype)
    return ops.where(c, zero if t0 is None else t0, zero if t1 is None else t1)


def _clip_mask(x, lo, hi):
    mask = None
    if lo is not None:
        mask = ops.greater_equal(x, lo)
    if hi is not None:
        upper = ops.less_equal(x, hi)
        mask = upper if mask is None else ops.logical_and(mask, upper)
    return ops.astype(mask, x.dtype)


def _astype_t(gy, x, dtype):
    return ops.astype(gy, x.dtype)


where = Rule(_where_vjp, _where_jvp)
clip = elementwise(lambda x, y, lo, hi: (_clip_mask(x, lo, hi),))
astype = linear(lambda t, dtype: ops.astype(t, dtype), _astype_t)


# ----- reductions -----
def _keep(g, x, axis, keepdims):
    """``g`` with the reduced axes put back as size-1 axes."""
    return g if keepdims else ops.reshape(g, tuple(1 if i in axis else d for i, d in
                                                   enumerate(x.shape)))  # fmt: skip


def _sum_t(gy, x, axis, keepdims):
    return ops.broadcast_to(_keep(gy, x, axis, keepdims), x.shape)


def _sum_jvp(t, axis, keepdims):
    return ops.sum(t, axis=axis, keepdims=keepdims)


def _extremum_weights(x, y, axis, keepdims):
    """1/k at each of the k entries equal to the extremum, 0 elsewhere (ties split)."""
    hit = ops.astype(ops.equal(x, _keep(y, x, axis, keepdims)), x.dtype)
    return ops.div(hit, ops.sum(hit, axis=axis, keepdims=True))


def _extremum_vjp(gy, x, y, axis, keepdims):
    w = _extremum_weights(x, y, axis, keepdims)
    return (ops.mul(w, _keep(gy, x, axis, keepdims)),)


def _extremum_jvp(ts, x, y, axis, keepdims):
    w = _extremum_weights(x, y, axis, keepdims)
    return ops.sum(ops.mul(ts[0], w), axis=axis, keepdims=keepdims)


sum_ = linear(_sum_jvp, _sum_t)
max_ = Rule(_extremum_vjp, _extremum_jvp)
min_ = Rule(_extremum_vjp, _extremum_jvp)


# ----- shape ops -----
def _reshape_t(gy, x, shape):
    return ops.reshape(gy, x.shape)


def _transpose_t(gy, x, axes):
    return ops.transpose(gy, tuple(int(i) for i in np.argsort(axes)))


def _broadcast_to_t(gy, x, shape):
    return gy  # the driver sums the broadcast axes away, centrally


def _squeeze_t(gy, x, axis):
    return ops.reshape(gy, x.shape)


def _expand_dims_t(gy, x, axis):
    return ops.reshape(gy, x.shape)


reshape = linear(lambda t, shape: ops.reshape(t, shape), _reshape_t)
transpose = linear(lambda t, axes: ops.transpose(t, axes), _transpose_t)
broadcast_to = linear(lambda t, shape: ops.broadcast_to(t, shape), _broadcast_to_t)
squeeze = linear(lambda t, axis: ops.squeeze(t, axis), _squeeze_t)
expand_dims = linear(lambda t, axis: ops.expand_dims(t, axis), _expand_dims_t)


def _zeros(x, dtype):
    return ops.broadcast_to(np.zeros((), dtype=dtype), x.shape)


def _concatenate_vjp(gy, *xs, y, axis):
    grads, start = [], 0
    for x in xs:
        stop = start + x.shape[axis]
        index = [slice(None)] * gy.ndim
        index[axis] = slice(start, stop)
        grads.append(ops.getitem(gy, tuple(index)))
        start = stop
    return tuple(grads)


def _concatenate_jvp(ts, *xs, y, axis):
    if all(t is None for t in ts):
        return None
    return ops.concatenate([_zeros(x, y.dtype) if t is None else t for t, x in zip(ts, xs)], axis)


def _stack_vjp(gy, *xs, y, axis):
    return tuple(ops.getitem(gy, (slice(None),) * axis + (i,)) for i in range(len(xs)))


def _stack_jvp(ts, *xs, y, axis):
    if all(t is None for t in ts):
        return None
    return ops.stack([_zeros(x, y.dtype) if t is None else t for t, x in zip(ts, xs)], axis)


def _getitem_vjp(gy, x, *arrays, y, index):
    return (scatter_add_p.bind(gy, *arrays, shape=x.shape, index=index),) + (None,) * len(arrays)


def _getitem_jvp(ts, x, *arrays, y, index):
    return None if ts[0] is None else getitem_p.bind(ts[0], *arrays, index=index)


def _scatter_add_vjp(gy, g, *arrays, y, shape, index):
    return (getitem_p.bind(gy, *arrays, index=index),) + (None,) * len(arrays)


def _scatter_add_jvp(ts, g, *arrays, y, shape, index):
    return None if ts[0] is None else scatter_add_p.bind(ts[0], *arrays, shape=shape, index=index)


concatenate = Rule(_concatenate_vjp, _concatenate_jvp)
stack = Rule(_stack_vjp, _stack_jvp)
getitem = Rule(_getitem_vjp, _getitem_jvp)
scatter_add = Rule(_scatter_add_vjp, _scatter_add_jvp)


# ----- linear algebra -----
def _matmul_vjp(gy, x0, x1, y):
    if x0.ndim == 1 and x1.ndim == 1:
        return ops.mul(gy, x1), ops.mul(gy, x0)
    if x0.ndim == 1:  # (n,) @ (..., n, m) -> (..., m)
        g0 = ops.squeeze(ops.matmul(x1, ops.expand_dims(gy, -1)), -1)
        g1 = ops.mul(ops.expand_dims(x0, -1), ops.expand_dims(gy, -2))
        return g0, g1
    if x1.ndim == 1:  # (..., k, n) @ (n,) -> (..., k)
        g0 = ops.mul(ops.expand_dims(gy, -1), x1)
        g1 = ops.squeeze(ops.matmul(ops.swapaxes(x0, -1, -2), ops.expand_dims(gy, -1)), -1)
        return g0, g1
    return ops.matmul(gy, ops.swapaxes(x1, -1, -2)), ops.matmul(ops.swapaxes(x0, -1, -2), gy)


def _matmul_jvp(ts, x0, x1, y):
    t0, t1 = ts
    return _add_tangents(
        None if t0 is None else ops.matmul(t0, x1), None if t1 is None else ops.matmul(x0, t1)
    )


matmul = Rule(_matmul_vjp, _matmul_jvp)


# One explicit table, in the section order of tracer/primitives.
RULES: dict[str, Rule] = {
    "neg": neg, "exp": exp, "log": log, "sin": sin, "cos": cos, "tan": tan, "tanh": tanh,
    "sqrt": sqrt, "abs": abs_, "square": square, "reciprocal": reciprocal, "log1p": log1p,
    "expm1": expm1,
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow_, "maximum": maximum,
    "minimum": minimum,
    "where": where, "clip": clip, "astype": astype,
    "sum": sum_, "max": max_, "min": min_,
    "reshape": reshape, "transpose": transpose, "broadcast_to": broadcast_to, "squeeze": squeeze,
    "expand_dims": expand_dims, "concatenate": concatenate, "stack": stack, "getitem": getitem,
    "scatter_add": scatter_add,
    "matmul": matmul,
}  # fmt: skip


def rule_for(op: str) -> Rule | None:
    """The rule of a differentiable primitive; None for ops with zero gradient."""
    prim = PRIMITIVES[op]
    if not prim.differentiable:
        return None
    return RULES[op]
