"""The ``Primitive`` record and the helpers its shape/dtype rules share.

A primitive is declared once: its name, its NumPy implementation and its
shape/dtype rule. Its local derivative lives in ``compiler`` (one rule each).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tracer.errors import ShapeError, TracegradError
from tracer.spec import format_aval


@dataclass(frozen=True, eq=False)
class Primitive:
    """One primitive op of the IR.

    Attributes:
        name: the ``op`` attribute of its nodes.
        impl: NumPy implementation, ``impl(*arrays, **params) -> ndarray``.
        abstract_eval: shape/dtype rule, ``(*avals, **params) -> (shape, dtype)``;
            raises ``ShapeError`` naming the op and the shapes.
        arity: number of operands, or None for variadic ops (``concatenate``).
        params: names of its static parameters (all required).
        differentiable: False for ops whose gradient is zero everywhere it exists
            (comparisons, rounding, argmax, ...).
        view: True when ``impl`` may return a view of its first operand.
    """

    name: str
    impl: Callable
    abstract_eval: Callable
    arity: int | None
    params: tuple[str, ...] = ()
    differentiable: bool = True
    view: bool = False
    doc: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return f"Primitive({self.name})"

    def bind(self, *operands, **params):
        from tracer.core import bind

        return bind(self, *operands, **params)


def avals_str(*avals) -> str:
    return ", ".join(format_aval(a.shape, a.dtype) for a in avals)


def broadcast_shapes(op: str, *avals) -> tuple[int, ...]:
    """NumPy's broadcast of the operands' shapes, or a ShapeError naming ``op``."""
    try:
        return tuple(np.broadcast_shapes(*(a.shape for a in avals)))
    except ValueError:
        raise ShapeError(
            f"{op}: operands could not be broadcast together: {avals_str(*avals)}"
        ) from None


@functools.lru_cache(maxsize=4096)
def result_dtype(fn: Callable, dtypes: tuple, params: tuple = ()) -> np.dtype:
    """The dtype NumPy's ``fn`` gives for operands of ``dtypes`` (exactly NumPy's rule)."""
    dummies = [np.ones((1,), dtype=d) for d in dtypes]
    with np.errstate(all="ignore"):
        try:
            out = fn(*dummies, **dict(params))
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. clip(int8, 1000)
            names = ", ".join(np.dtype(d).name for d in dtypes)
            raise TracegradError(f"not defined for dtypes ({names}): {exc}") from None
    return np.asarray(out).dtype


def elementwise_rule(name: str, fn: Callable):
    """Shape/dtype rule of an elementwise op: broadcast shapes, NumPy's dtype."""

    def rule(*avals, **params):
        first = avals[0].shape
        if all(a.shape == first for a in avals):
            shape = first
        else:
            shape = broadcast_shapes(name, *avals)
        try:
            dtype = result_dtype(fn, tuple(a.dtype for a in avals), tuple(sorted(params.items())))
        except TracegradError as exc:
            raise TracegradError(f"{name}: {exc}") from None
        return shape, dtype

    return rule


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    """``axis`` as a non-negative int, or a ShapeError naming the op."""
    try:
        axis = operator.index(axis)  # like NumPy: 1.5 is not an axis
    except TypeError:
        raise TracegradError(f"{op}: axis must be an int, got {axis!r}") from None
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def normalize_axes(op: str, axis, ndim: int) -> tuple[int, ...]:
    """``None``, an int or a tuple of ints as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    axes = tuple(sorted(normalize_axis(op, a, ndim) for a in axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return axes
