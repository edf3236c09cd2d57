"""The ``Primitive`` record: everything about one primitive, declared in one place.

A declaration names the primitive and gives its NumPy implementation, its
shape/dtype rule, its local derivatives (vjp and jvp, written with traceable
ops, so gradient graphs can be differentiated again), how generated code calls
it (a NumPy ufunc name or a lowering), its algebraic facts for the optimiser,
its rewrites, its batching rule (vmap, see ``batching``), its call through the
array-API namespace (``array_api``: CuPy and other array-API libraries) and its drawing label;
a slot for a fused-kernel lowering comes next. The compiler reads these fields and keeps no
table of its own keyed by primitive names. The NumPy functions and ndarray
methods that map onto a primitive are declared in its module's ``NUMPY`` and
``METHODS`` tables, beside the user-facing function that applies it.

Adding a primitive is one declaration in one module (``arctan_p`` in
``elementwise.py``) plus its tests.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives.batching import ELEMENTWISE, SharedRule
from tracer.spec import format_aval
from tracer.staging import bind


@dataclass(frozen=True)
class Algebra:
    """Algebraic facts the optimiser's rewrites rely on (all exact in IEEE arithmetic).

    Attributes:
        commutative: ``f(x, y) == f(y, x)``.
        identity: ``f(x, e) == x`` (and ``f(e, x) == x`` when commutative).
        absorbing: ``f(x, a) == a`` (both sides when commutative), numeric dtypes only.
        self_inverse: ``f(x, x)`` is this constant (``x - x == 0``), numeric dtypes only.
        idempotent: unary ``f(f(x)) == f(x)``; binary ``f(x, x) == x``.
        involution: ``f(f(x)) == x``.
        poly: the op on polynomials (value numbering), e.g. ``operator.add``.
        reduction: reduces over ``params["axis"]`` (a reshape over size-1 axes).
    """

    commutative: bool = False
    identity: Any = None
    absorbing: Any = None
    self_inverse: Any = None
    idempotent: bool = False
    involution: bool = False
    poly: Callable | None = None
    reduction: bool = False


@dataclass(frozen=True, eq=False)
class Primitive:
    """One primitive op of the IR.

    Attributes:
        name: the ``op`` attribute of its nodes.
        impl: NumPy implementation, ``impl(*arrays, **params) -> ndarray``.
        abstract_eval: shape/dtype rule, ``(*specs, **params) -> (shape, dtype)``;
            raises ``ShapeError`` naming the op and the shapes.
        arity: number of operands, or None for variadic ops (``concatenate``).
        params: names of its static parameters (all required).
        vjp: ``vjp(gy, *xs, y=y, **params) -> tuple`` of one gradient per operand
            (None for none), in the output's shape: the driver reduces broadcast
            axes and casts, centrally.
        jvp: ``jvp(ts, *xs, y=y, **params) -> tangent of y`` (``ts``: one tangent per
            operand, None where it is zero).
        zero_grad: the gradient is zero wherever it exists (comparisons, rounding,
            argmax; ``stop_gradient``): such a primitive declares no rules.
        per_call: each node is result ``params["output"]`` of one call producing
            ``params["outputs"]`` values; its operands are the call's results, then its
            arguments (the custom-derivative markers). The drivers apply the rules once
            per call: ``vjp(cts, *args, rule=, transpose=, **params)`` gets one cotangent
            per result (None: zero) and returns one per argument; ``jvp(ts, *args, rule=,
            transpose=, **params)`` returns one tangent per result. ``rule`` is the
            node's run-time ``rule`` attribute, ``transpose(fn, avals, cts)`` the
            compiler's transpose of a linear traced function ``fn`` of arrays ``avals``.
        structural: ``structural(i)`` is True for operands read as indices or
            conditions (they keep their dtype in derivative rules).
        elementwise: an elementwise op that broadcasts its operands.
        ufunc: the NumPy ufunc generated code calls (``np.<ufunc>(a, b[, out])``).
        ufunc_out: how that ufunc takes a reused buffer: ``"positional"`` (fastest)
            or ``"keyword"``.
        lower: for other ops, ``lower(args, params, lit) -> expression``: the call
            as source text, ``args`` being operand names and ``lit`` the code
            generator's checked literals (``lit.value``, ``lit.int``, ``lit.ints``,
            ``lit.dtype``, ``lit.index``); or ``CALL_IMPL`` to call ``impl``.
        fresh: the result is a new array the generated code owns (its buffer may be
            reused); a callable gets the params.
        view: ``impl`` may return a view of its first operand.
        algebra: facts for the optimiser (``Algebra``).
        rewrites: ``rewrite(ctx, n, *operands) -> (new node, label)`` functions the
            simplifier tries on a node of this op (``ctx`` is its rewriting context).
        batch: the batching rule (vmap), ``batch(args, dims, **params) -> (out, out_dim)``:
            ``dims[i]`` is the batch axis of operand ``i`` (None: not batched), ``args``
            the operands as traced values of the batched graph being built; it returns
            the batched result and its batch axis (``tracer.primitives.batching``). A
            ``SharedRule`` (a rule written for any primitive of a family) is bound to
            this primitive. ``unary``/``binary`` declare ``batching.ELEMENTWISE``.
        kernel: the scalar expression of a fused loop kernel (numba back end).
        array_api: how the array-API back end calls it through the arrays' namespace
            ``xp`` (``x.__array_namespace__()``, standard 2023.12 names): a function
            name (``"atan"``: ``xp.atan(*operands)``) or ``lower(args, params, lit) ->
            expression`` like ``lower``'s, written with ``xp.``; None: that back end
            refuses graphs using this primitive.
        label: the drawing's label (default: the name).
    """

    name: str
    impl: Callable
    abstract_eval: Callable
    arity: int | None
    params: tuple[str, ...] = ()
    vjp: Callable | None = None
    jvp: Callable | None = None
    zero_grad: bool = False
    per_call: bool = False
    structural: Callable[[int], bool] | None = None
    elementwise: bool = False
    ufunc: str | None = None
    ufunc_out: str = "positional"
    lower: Callable | None = None
    fresh: bool | Callable = False
    view: bool = False
    algebra: Algebra = field(default_factory=Algebra)
    rewrites: tuple[Callable, ...] = ()
    batch: Callable | None = None
    kernel: Callable | None = None
    array_api: str | Callable | None = None
    label: str | None = None
    doc: str = field(default="", compare=False)

    def __post_init__(self):
        if isinstance(self.batch, SharedRule):  # frozen: set once, at declaration
            object.__setattr__(self, "batch", self.batch.bind_to(self))

    def __repr__(self) -> str:
        return f"Primitive({self.name})"

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    @property
    def display(self) -> str:
        """The drawing's label."""
        return self.label or self.name

    def owns_result(self, params: dict) -> bool:
        """True when generated code gets a fresh array it owns from this op."""
        return self.fresh(params) if callable(self.fresh) else self.fresh

    def bind(self, *operands, **params):
        return bind(self, *operands, **params)


class _CallImpl:
    """``lower=CALL_IMPL``: generated code calls the primitive's NumPy implementation, passed
    in as a closure constant with its params (for ops that are not one NumPy call)."""

    def __repr__(self) -> str:
        return "CALL_IMPL"


CALL_IMPL = _CallImpl()


# ----- derivative rules from partial derivatives -----


def add_tangents(*terms):
    """The sum of the tangents that are not None (None when all are)."""
    out = None
    for t in terms:
        if t is not None:
            out = t if out is None else out + t
    return out


def from_partials(partials: Callable) -> tuple[Callable, Callable]:
    """(vjp, jvp) of an op from its partial derivatives ``partials(*xs, y=y, **params)``."""

    def vjp(gy, *xs, y, **params):
        return tuple(gy * p for p in partials(*xs, y=y, **params))

    def jvp(ts, *xs, y, **params):
        ps = partials(*xs, y=y, **params)
        return add_tangents(*(None if t is None else t * p for t, p in zip(ts, ps)))

    return vjp, jvp


def real_dtype(dtype) -> np.dtype:
    """The real dtype of ``dtype``'s values: complex128 -> float64, others unchanged."""
    dtype = np.dtype(dtype)
    return np.finfo(dtype).dtype if dtype.kind == "c" else dtype


def real_only(name: str, *operands) -> None:
    """Refuse to build ``name``'s derivative for complex operands: its rules are written
    for real matrices (transposes, not conjugate transposes), so a complex operand would
    give a wrong number. Called at the top of such a rule."""
    for a in operands:
        if np.dtype(getattr(a, "dtype", np.float64)).kind == "c":
            raise UnsupportedError(
                f"the derivative of {name} is implemented for real matrices only, and this "
                f"one is complex (at {user_location()}); complex values are computed, "
                "their derivatives are not yet"
            )


def linear(fn: Callable, transpose: Callable) -> tuple[Callable, Callable]:
    """(vjp, jvp) of an op linear in its first operand: jvp applies it, vjp its transpose."""

    def jvp(ts, x, *rest, y, **params):
        return None if ts[0] is None else fn(ts[0], *rest, **params)

    def vjp(gy, x, *rest, y, **params):
        return (transpose(gy, x, *rest, **params),) + (None,) * len(rest)

    return vjp, jvp


# ----- elementwise declarations in one line -----

_NO_FACTS = Algebra()


def unary(name, fn, d=None, *, algebra=_NO_FACTS, rewrites=(), **facts) -> Primitive:
    """An elementwise primitive of one operand computed by NumPy ufunc ``fn``.

    ``d(x, y)`` is its derivative, written with traceable ops (None: a zero
    gradient, unless ``vjp``/``jvp`` are given in ``facts``); other ``facts`` are
    ``Primitive`` fields. Its batching rule is ``batching.ELEMENTWISE``.
    """
    vjp, jvp = from_partials(lambda x, y, **p: (d(x, y, **p),)) if d else (None, None)
    facts.setdefault("vjp", vjp)
    facts.setdefault("jvp", jvp)
    facts.setdefault("batch", ELEMENTWISE)
    return Primitive(name, fn, elementwise_rule(name, fn), 1, zero_grad=facts["vjp"] is None,
                     elementwise=True, ufunc=fn.__name__, fresh=True, algebra=algebra,
                     rewrites=rewrites, **facts)  # fmt: skip


def binary(name, fn, d=None, *, algebra=_NO_FACTS, rewrites=(), **facts) -> Primitive:
    """An elementwise primitive of two operands computed by NumPy ufunc ``fn``;
    ``d(x0, x1, y)`` returns both partial derivatives."""
    vjp, jvp = from_partials(d) if d else (None, None)
    facts.setdefault("vjp", vjp)
    facts.setdefault("jvp", jvp)
    facts.setdefault("batch", ELEMENTWISE)
    return Primitive(name, fn, elementwise_rule(name, fn), 2, zero_grad=facts["vjp"] is None,
                     elementwise=True, ufunc=fn.__name__, fresh=True, algebra=algebra,
                     rewrites=rewrites, **facts)  # fmt: skip


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
