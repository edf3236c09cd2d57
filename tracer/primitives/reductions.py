"""Reductions: sum, prod, max, min, argmax, argmin, any, all (declared with their derivatives
and lowerings); mean, var and std as composites.

``prod``'s derivative is exact with zeros in the input (one or several): the product of
the other entries is a left times a right exclusive ``cumprod``, never ``y / x``.
"""

from __future__ import annotations

import builtins

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import complex_parts as cp
from tracer.primitives import elementwise as ew
from tracer.primitives import scans
from tracer.primitives import shape_ops as so
from tracer.primitives.base import (
    Algebra,
    Primitive,
    linear,
    normalize_axes,
    normalize_axis,
    result_dtype,
)
from tracer.primitives.batching import ARG_REDUCTION, REDUCTION
from tracer.staging import Tracer, bind, find_trace


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _check_axes(op, x, axis):
    if tuple(axis) != normalize_axes(op, axis, x.ndim):
        raise TracegradError(f"{op}: axis must be a sorted tuple of non-negative axes, got {axis}")


def _impl(fn):
    """NumPy's reduction ``fn`` with the primitive's parameters."""

    def impl(x, axis, keepdims):
        return fn(x, axis=axis, keepdims=keepdims)

    return impl


def _arith_rule(op, fn):
    """The rule of a reduction whose dtype is NumPy's for ``fn`` (sum, prod)."""

    def rule(x, axis, keepdims):
        _check_axes(op, x, axis)
        return _reduced_shape(x.shape, axis, keepdims), result_dtype(fn, (x.dtype,))

    return rule


def _extremum_rule(op):
    def rule(x, axis, keepdims):
        _check_axes(op, x, axis)
        if builtins.any(x.shape[a] == 0 for a in axis) or (not axis and x.ndim and 0 in x.shape):
            raise ShapeError(
                f"{op}: zero-size array to reduction operation {op} which has no identity "
                f"(shape {x.shape}, axis {axis})"
            )
        return _reduced_shape(x.shape, axis, keepdims), x.dtype

    return rule


def _truth_rule(op):
    def rule(x, axis, keepdims):
        _check_axes(op, x, axis)
        return _reduced_shape(x.shape, axis, keepdims), np.dtype(np.bool_)

    return rule


def _arg_rule(op):
    def rule(x, axis, keepdims):
        if x.ndim and 0 in x.shape:
            raise ShapeError(f"{op}: attempt to get {op} of an empty sequence (shape {x.shape})")
        if axis is None:
            shape = (1,) * x.ndim if keepdims else ()
        else:
            normalize_axis(op, axis, x.ndim)
            shape = _reduced_shape(x.shape, (axis,), keepdims)
        return shape, np.dtype(np.intp)

    return rule


# ----- reductions -----
def _reduce_lowering(call):
    return lambda a, p, lit: (
        f"{call}({a[0]}, axis={lit.ints(p['axis'])}, "
        + (f"keepdims={lit.value(bool(p['keepdims']))})")
    )


def _arg_lowering(name):
    return lambda a, p, lit: (
        f"np.{name}({a[0]}, axis={lit.value(p['axis'])}, "
        + (f"keepdims={lit.value(bool(p['keepdims']))})")
    )


def _reduce_xp(name):
    """The array-API call of a reduction (``xp.sum(x, axis=(0,), keepdims=False)``)."""
    return lambda a, p, lit: (
        f"xp.{name}({a[0]}, axis={lit.ints(p['axis'])}, keepdims={lit.value(bool(p['keepdims']))})"
    )


def _arg_xp(name):
    return lambda a, p, lit: (
        f"xp.{name}({a[0]}, axis={lit.value(p['axis'])}, keepdims={lit.value(bool(p['keepdims']))})"
    )


def _axes_reduced(params) -> bool:  # a reduction over no axis may return its input itself
    return len(params["axis"]) > 0


_REDUCTION = Algebra(reduction=True)
sum_p = Primitive(
    "sum", _impl(np.sum), _arith_rule("sum", np.sum), 1, ("axis", "keepdims"),
    *linear(lambda t, axis, keepdims: sum(t, axis=axis, keepdims=keepdims),
            lambda gy, x, axis, keepdims: so.broadcast_to(_keep(gy, x, axis, keepdims), x.shape)),
    batch=REDUCTION, fresh=_axes_reduced, lower=_reduce_lowering("np.sum"), algebra=_REDUCTION,
    array_api=_reduce_xp("sum"),
)  # fmt: skip
max_p = Primitive(
    "max", _impl(np.max), _extremum_rule("max"), 1, ("axis", "keepdims"),
    vjp=lambda gy, x, y, axis, keepdims: _extremum_vjp(gy, x, y, axis, keepdims),
    jvp=lambda ts, x, y, axis, keepdims: _extremum_jvp(ts, x, y, axis, keepdims),
    batch=REDUCTION, fresh=_axes_reduced, lower=_reduce_lowering("np.maximum.reduce"),
    algebra=_REDUCTION, array_api=_reduce_xp("max"),
)  # fmt: skip
min_p = Primitive(
    "min", _impl(np.min), _extremum_rule("min"), 1, ("axis", "keepdims"),
    vjp=lambda gy, x, y, axis, keepdims: _extremum_vjp(gy, x, y, axis, keepdims),
    jvp=lambda ts, x, y, axis, keepdims: _extremum_jvp(ts, x, y, axis, keepdims),
    batch=REDUCTION, fresh=_axes_reduced, lower=_reduce_lowering("np.minimum.reduce"),
    algebra=_REDUCTION, array_api=_reduce_xp("min"),
)  # fmt: skip
prod_p = Primitive(
    "prod", _impl(np.prod), _arith_rule("prod", np.prod), 1, ("axis", "keepdims"),
    vjp=lambda gy, x, y, axis, keepdims: (
        ew.mul(_keep(gy, x, axis, keepdims), _others_product(x, axis)),
    ),
    jvp=lambda ts, x, y, axis, keepdims: None if ts[0] is None else sum(
        ew.mul(ts[0], _others_product(x, axis)), axis=axis, keepdims=keepdims
    ),
    batch=REDUCTION, fresh=_axes_reduced, lower=_reduce_lowering("np.prod"), algebra=_REDUCTION,
    array_api=_reduce_xp("prod"),
)  # fmt: skip
any_p = Primitive("any", _impl(np.any), _truth_rule("any"), 1, ("axis", "keepdims"),
                  zero_grad=True, batch=REDUCTION, fresh=_axes_reduced,
                  lower=_reduce_lowering("np.any"),
                  algebra=_REDUCTION, array_api=_reduce_xp("any"))  # fmt: skip
all_p = Primitive("all", _impl(np.all), _truth_rule("all"), 1, ("axis", "keepdims"),
                  zero_grad=True, batch=REDUCTION, fresh=_axes_reduced,
                  lower=_reduce_lowering("np.all"),
                  algebra=_REDUCTION, array_api=_reduce_xp("all"))  # fmt: skip
argmax_p = Primitive("argmax", _impl(np.argmax), _arg_rule("argmax"), 1, ("axis", "keepdims"),
                     zero_grad=True, batch=ARG_REDUCTION,
                     lower=_arg_lowering("argmax"), array_api=_arg_xp("argmax"))  # fmt: skip
argmin_p = Primitive("argmin", _impl(np.argmin), _arg_rule("argmin"), 1, ("axis", "keepdims"),
                     zero_grad=True, batch=ARG_REDUCTION,
                     lower=_arg_lowering("argmin"), array_api=_arg_xp("argmin"))  # fmt: skip


# ----- local derivatives (ties in max/min split evenly, as in JAX) -----
def _keep(g, x, axis, keepdims):
    """``g`` with the reduced axes put back as size-1 axes."""
    if keepdims:
        return g
    return so.reshape(g, tuple(1 if i in axis else d for i, d in enumerate(x.shape)))


def _extremum_weights(x, y, axis, keepdims):
    """1/k at each of the k entries equal to the extremum, 0 elsewhere (ties split)."""
    hit = ew.astype(ew.equal(x, _keep(y, x, axis, keepdims)), x.dtype)
    return ew.div(hit, sum(hit, axis=axis, keepdims=True))


def _extremum_vjp(gy, x, y, axis, keepdims):
    w = _extremum_weights(x, y, axis, keepdims)
    return (ew.mul(w, _keep(gy, x, axis, keepdims)),)


def _extremum_jvp(ts, x, y, axis, keepdims):
    w = _extremum_weights(x, y, axis, keepdims)
    return sum(ew.mul(ts[0], w), axis=axis, keepdims=keepdims)


def _others_product(x, axes):
    """For each entry, the product of the other entries over ``axes`` (exact with zeros):
    a left exclusive ``cumprod`` times a right one, over the reduced axes flattened."""
    m = 1
    for a in axes:
        m *= x.shape[a]
    if m <= 1:
        return np.ones((), dtype=x.dtype)
    perm = tuple(i for i in range(x.ndim) if i not in axes) + tuple(axes)
    moved = tuple(x.shape[i] for i in perm)
    flat = so.reshape(so.transpose(x, perm), moved[: x.ndim - len(axes)] + (m,))
    left = scans.cumprod(flat, -1)
    right = so.flip(scans.cumprod(so.flip(flat, -1), -1), -1)

    def part(v, start, stop):
        return so.getitem(v, (Ellipsis, slice(start, stop)))

    inner = ew.mul(part(left, None, -2), part(right, 2, None))
    others = so.concatenate([part(right, 1, 2), inner, part(left, -2, -1)], -1)
    return so.transpose(so.reshape(others, moved), tuple(int(i) for i in np.argsort(perm)))


PRIMITIVES = (sum_p, prod_p, max_p, min_p, argmax_p, argmin_p, any_p, all_p)


def _unsupported_kwargs(name, **kwargs):
    for key, value in kwargs.items():
        if value is not None and value is not np._NoValue:
            raise UnsupportedError(
                f"np.{name}(..., {key}=...) is not supported on traced arrays ({user_location()})"
            )


def _ndim(x):
    return x.ndim if isinstance(x, Tracer) else np.ndim(x)


# ----- user-facing functions -----
def sum(x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    _unsupported_kwargs("sum", out=out, initial=initial, where=where)
    if find_trace((x,)) is None:
        return np.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)
    if dtype is not None:
        x = ew.astype(x, dtype)
    axes = normalize_axes("sum", axis, _ndim(x))
    out = bind(sum_p, x, axis=axes, keepdims=bool(keepdims))
    # np.sum(int32, dtype=int32) is int32; the primitive follows np.sum's default (int64)
    return out if dtype is None else ew.astype(out, dtype)


def prod(x, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _unsupported_kwargs("prod", out=out, initial=initial, where=where)
    if find_trace((x,)) is None:
        return np.prod(x, axis=axis, dtype=dtype, keepdims=keepdims)
    if dtype is not None:
        x = ew.astype(x, dtype)
    axes = normalize_axes("prod", axis, _ndim(x))
    out = bind(prod_p, x, axis=axes, keepdims=bool(keepdims))
    return out if dtype is None else ew.astype(out, dtype)


def _truth(prim, name, x, axis, out, keepdims, where):
    _unsupported_kwargs(name, out=out, where=None if where is True else where)
    if find_trace((x,)) is None:
        return getattr(np, name)(x, axis=axis, keepdims=keepdims)
    axes = normalize_axes(name, axis, _ndim(x))
    return bind(prim, x, axis=axes, keepdims=bool(keepdims))


def any(x, axis=None, out=None, keepdims=False, *, where=None):  # noqa: A001
    return _truth(any_p, "any", x, axis, out, keepdims, where)


def all(x, axis=None, out=None, keepdims=False, *, where=None):  # noqa: A001
    return _truth(all_p, "all", x, axis, out, keepdims, where)


def _extremum(prim, name, x, axis, out, keepdims, initial, where):
    _unsupported_kwargs(name, out=out, initial=initial, where=where)
    if find_trace((x,)) is None:
        return getattr(np, name)(x, axis=axis, keepdims=keepdims)
    axes = normalize_axes(name, axis, _ndim(x))
    return bind(prim, x, axis=axes, keepdims=bool(keepdims))


def max(x, axis=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    return _extremum(max_p, "max", x, axis, out, keepdims, initial, where)


def min(x, axis=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    return _extremum(min_p, "min", x, axis, out, keepdims, initial, where)


def argmax(x, axis=None, out=None, *, keepdims=False):
    _unsupported_kwargs("argmax", out=out)
    if find_trace((x,)) is None:
        return np.argmax(x, axis=axis, keepdims=keepdims)
    if axis is not None:
        axis = normalize_axis("argmax", axis, _ndim(x))
    return bind(argmax_p, x, axis=axis, keepdims=bool(keepdims))


def argmin(x, axis=None, out=None, *, keepdims=False):
    _unsupported_kwargs("argmin", out=out)
    if find_trace((x,)) is None:
        return np.argmin(x, axis=axis, keepdims=keepdims)
    if axis is not None:
        axis = normalize_axis("argmin", axis, _ndim(x))
    return bind(argmin_p, x, axis=axis, keepdims=bool(keepdims))


# ----- composites -----
def _count(x, axes) -> int:
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


def mean(x, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    _unsupported_kwargs("mean", out=out, where=where)
    if find_trace((x,)) is None:
        return np.mean(x, axis=axis, dtype=dtype, keepdims=keepdims)
    if dtype is not None:
        x = ew.astype(x, dtype)
    elif x.dtype.kind in "biu":
        x = ew.astype(x, np.float64)
    axes = normalize_axes("mean", axis, x.ndim)
    return ew.div(sum(x, axis=axes, keepdims=keepdims), float(_count(x, axes)))


def var(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None):
    _unsupported_kwargs("var", out=out, where=where, mean=mean)
    if find_trace((x,)) is None:
        return np.var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    if dtype is not None:
        x = ew.astype(x, dtype)
    elif x.dtype.kind in "biu":
        x = ew.astype(x, np.float64)
    axes = normalize_axes("var", axis, x.ndim)
    mu = ew.div(sum(x, axis=axes, keepdims=True), float(_count(x, axes)))
    dev = ew.sub(x, mu)
    if dev.dtype.kind == "c":  # |x - mu|^2 = re^2 + im^2, as NumPy computes it: real and smooth
        dev = ew.add(ew.square(cp.real(dev)), ew.square(cp.imag(dev)))
    else:
        dev = ew.square(dev)
    # NumPy divides by max(n - ddof, 0): too large a ddof gives inf/nan, not a sign flip
    return ew.div(
        sum(dev, axis=axes, keepdims=keepdims), float(builtins.max(_count(x, axes) - ddof, 0))
    )


def std(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None):
    return ew.sqrt(var(x, axis, dtype, out, ddof, keepdims, where=where, mean=mean))


NUMPY = {
    np.sum: sum, np.prod: prod, np.any: any, np.all: all, np.max: max, np.amax: max,
    np.min: min, np.amin: min, np.argmax: argmax, np.argmin: argmin, np.mean: mean,
    np.var: var, np.std: std,
}  # fmt: skip
METHODS = {
    "sum": sum, "prod": prod, "any": any, "all": all, "mean": mean, "var": var, "std": std,
    "max": max, "min": min, "argmax": argmax, "argmin": argmin,
}  # fmt: skip
ATTRIBUTES: dict = {}

__all__ = ["all", "any", "argmax", "argmin", "max", "mean", "min", "prod", "std", "sum", "var"]
