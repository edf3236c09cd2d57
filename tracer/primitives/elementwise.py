"""Elementwise primitives: unary math, binary arithmetic, comparisons, where, clip, astype.

Binary ops broadcast like NumPy and promote dtypes like NumPy; Python scalars
are *weak* (NEP 50): ``x32 * 2.0`` stays float32.
"""

from __future__ import annotations

import numpy as np

from tracer.core import TracedArray, bind, find_trace, user_location
from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.primitives.base import Primitive, broadcast_shapes, elementwise_rule, result_dtype
from tracer.spec import canonical_dtype

_PY_SCALARS = (bool, int, float, complex)


def _unary(name, fn, differentiable=True, params=()):
    return Primitive(name, fn, elementwise_rule(name, fn), 1, params, differentiable)


def _binary(name, fn, differentiable=True):
    return Primitive(name, fn, elementwise_rule(name, fn), 2, (), differentiable)


def _round_impl(x, decimals):
    return np.round(x, decimals)


def _clip_impl(x, lo, hi):
    return np.clip(x, lo, hi)


def _astype_impl(x, dtype):
    return x.astype(dtype)


def _astype_rule(x, dtype):
    return x.shape, canonical_dtype(dtype)


def _where_rule(c, x, y):
    shape = broadcast_shapes("where", c, x, y)
    if c.dtype != np.bool_:
        raise TracegradError(f"where: condition must be boolean, got {c.dtype}")
    return shape, np.result_type(x.dtype, y.dtype)


def _clip_rule(x, lo, hi):
    try:
        return x.shape, result_dtype(_clip_impl, (x.dtype,), (("hi", hi), ("lo", lo)))
    except TracegradError as exc:
        raise TracegradError(f"clip: {exc}") from None


# ----- unary elementwise -----
neg_p = _unary("neg", np.negative)
exp_p = _unary("exp", np.exp)
log_p = _unary("log", np.log)
sin_p = _unary("sin", np.sin)
cos_p = _unary("cos", np.cos)
tan_p = _unary("tan", np.tan)
tanh_p = _unary("tanh", np.tanh)
sqrt_p = _unary("sqrt", np.sqrt)
abs_p = _unary("abs", np.abs)
sign_p = _unary("sign", np.sign, differentiable=False)
square_p = _unary("square", np.square)
reciprocal_p = _unary("reciprocal", np.reciprocal)
log1p_p = _unary("log1p", np.log1p)
expm1_p = _unary("expm1", np.expm1)
floor_p = _unary("floor", np.floor, differentiable=False)
ceil_p = _unary("ceil", np.ceil, differentiable=False)
round_p = Primitive(
    "round", _round_impl, elementwise_rule("round", _round_impl), 1, ("decimals",), False
)
logical_not_p = _unary("logical_not", np.logical_not, differentiable=False)

# ----- binary elementwise -----
add_p = _binary("add", np.add)
sub_p = _binary("sub", np.subtract)
mul_p = _binary("mul", np.multiply)
div_p = _binary("div", np.true_divide)
pow_p = _binary("pow", np.power)
maximum_p = _binary("maximum", np.maximum)
minimum_p = _binary("minimum", np.minimum)

# ----- comparisons and logic (boolean results, zero gradient) -----
less_p = _binary("less", np.less, differentiable=False)
less_equal_p = _binary("less_equal", np.less_equal, differentiable=False)
greater_p = _binary("greater", np.greater, differentiable=False)
greater_equal_p = _binary("greater_equal", np.greater_equal, differentiable=False)
equal_p = _binary("equal", np.equal, differentiable=False)
not_equal_p = _binary("not_equal", np.not_equal, differentiable=False)
logical_and_p = _binary("logical_and", np.logical_and, differentiable=False)
logical_or_p = _binary("logical_or", np.logical_or, differentiable=False)

# ----- selection and casts -----
where_p = Primitive("where", np.where, _where_rule, 3)
clip_p = Primitive("clip", _clip_impl, _clip_rule, 1, ("lo", "hi"))
astype_p = Primitive("astype", _astype_impl, _astype_rule, 1, ("dtype",))

PRIMITIVES = (
    neg_p, exp_p, log_p, sin_p, cos_p, tan_p, tanh_p, sqrt_p, abs_p, sign_p, square_p,
    reciprocal_p, log1p_p, expm1_p, floor_p, ceil_p, round_p, logical_not_p,
    add_p, sub_p, mul_p, div_p, pow_p, maximum_p, minimum_p,
    less_p, less_equal_p, greater_p, greater_equal_p, equal_p, not_equal_p,
    logical_and_p, logical_or_p,
    where_p, clip_p, astype_p,
)  # fmt: skip


# ----- promotion of weak (Python scalar) operands -----


def _weak_repr(a):
    """What ``np.result_type`` should see for ``a``: Python scalars stay weak."""
    if isinstance(a, TracedArray):
        if a.weak:
            return {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}[a.dtype.kind]
        return a.dtype
    if isinstance(a, _PY_SCALARS):
        return a
    return np.asarray(a).dtype


def _is_weak(a) -> bool:
    return isinstance(a, _PY_SCALARS) or (isinstance(a, TracedArray) and a.weak)


def promote(op: str, args: tuple) -> tuple:
    """Cast weak operands (Python scalars, Python-number inputs) to NumPy's promoted dtype."""
    if not any(_is_weak(a) for a in args) or len(args) < 2:
        return args
    try:
        target = np.result_type(*[_weak_repr(a) for a in args])
    except (TypeError, OverflowError) as exc:
        raise TracegradError(
            f"{op}: cannot promote operands ({exc}) at {user_location()}"
        ) from None
    out = []
    for a in args:
        if isinstance(a, _PY_SCALARS):
            try:
                a = np.asarray(a, dtype=target)
            except OverflowError:  # NumPy ufuncs raise too (int8 + 1000); np.where would wrap
                if op in _COMPARISONS:  # ... but compares by value: int8 array < 1000
                    return _widen(op, args, np.result_type(target, np.min_scalar_type(a)))
                raise TracegradError(
                    f"{op}: Python integer {a} is out of bounds for {target} (at {user_location()})"
                ) from None
        elif isinstance(a, TracedArray) and a.weak and a.dtype != target:
            a = bind(astype_p, a, weak=True, dtype=target.name)
        out.append(a)
    return tuple(out)


_COMPARISONS = frozenset(("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"))


def _widen(op: str, args: tuple, dtype: np.dtype) -> tuple:
    """All operands cast to ``dtype``, wide enough for a Python int the operands' type is not."""
    if dtype.kind not in "iuf":
        raise TracegradError(f"{op}: cannot compare with {args} exactly (at {user_location()})")
    return tuple(
        astype(a, dtype) if isinstance(a, TracedArray) else np.asarray(a, dtype=dtype) for a in args
    )


def apply(prim: Primitive, *args, **params):
    """Apply an elementwise primitive with NumPy's broadcasting and promotion."""
    if find_trace(args) is None:
        return prim.impl(*[np.asarray(a) for a in args], **params)
    weak = all(_is_weak(a) for a in args)  # before promotion turns Python numbers into arrays
    args = promote(prim.name, args)
    return bind(prim, *args, weak=weak, **params)


# ----- user-facing functions -----
def neg(x):
    return apply(neg_p, x)


def exp(x):
    return apply(exp_p, x)


def log(x):
    return apply(log_p, x)


def sin(x):
    return apply(sin_p, x)


def cos(x):
    return apply(cos_p, x)


def tan(x):
    return apply(tan_p, x)


def tanh(x):
    return apply(tanh_p, x)


def sqrt(x):
    return apply(sqrt_p, x)


def abs(x):  # noqa: A001  (NumPy's name)
    return apply(abs_p, x)


def sign(x):
    return apply(sign_p, x)


def square(x):
    return apply(square_p, x)


def reciprocal(x):
    return apply(reciprocal_p, x)


def log1p(x):
    return apply(log1p_p, x)


def expm1(x):
    return apply(expm1_p, x)


def floor(x):
    return apply(floor_p, x)


def ceil(x):
    return apply(ceil_p, x)


def round(x, decimals=0, out=None):  # noqa: A001
    _no_out("round", out)
    return apply(round_p, x, decimals=int(decimals))


def logical_not(x):
    return apply(logical_not_p, x)


def add(x, y):
    return apply(add_p, x, y)


def sub(x, y):
    return apply(sub_p, x, y)


def mul(x, y):
    return apply(mul_p, x, y)


def div(x, y):
    return apply(div_p, x, y)


def power(x, y):
    return apply(pow_p, x, y)


def maximum(x, y):
    return apply(maximum_p, x, y)


def minimum(x, y):
    return apply(minimum_p, x, y)


def less(x, y):
    return apply(less_p, x, y)


def less_equal(x, y):
    return apply(less_equal_p, x, y)


def greater(x, y):
    return apply(greater_p, x, y)


def greater_equal(x, y):
    return apply(greater_equal_p, x, y)


def equal(x, y):
    return apply(equal_p, x, y)


def not_equal(x, y):
    return apply(not_equal_p, x, y)


def logical_and(x, y):
    return apply(logical_and_p, x, y)


def logical_or(x, y):
    return apply(logical_or_p, x, y)


def _bool_only(name: str, args) -> None:
    """``& | ~`` are bitwise in NumPy: only on booleans do they equal the logical primitives."""
    for a in args:
        dt = a.dtype if isinstance(a, (TracedArray, np.ndarray, np.generic)) else type(a)
        if dt not in (bool, np.bool_, np.dtype(np.bool_)):
            raise UnsupportedError(
                f"np.{name} on {getattr(dt, 'name', None) or dt.__name__} operands has no "
                f"tracegrad primitive (at {user_location()}): bitwise ops trace on booleans only"
            )


def bitwise_and(x, y):
    _bool_only("bitwise_and", (x, y))
    return logical_and(x, y)


def bitwise_or(x, y):
    _bool_only("bitwise_or", (x, y))
    return logical_or(x, y)


def invert(x):
    _bool_only("invert", (x,))
    return logical_not(x)


def astype(x, dtype):
    dt = canonical_dtype(dtype)
    if isinstance(x, TracedArray) and x.dtype == dt:
        return x
    return apply(astype_p, x, dtype=dt.name)


def where(condition, x=None, y=None):
    if x is None or y is None:
        raise UnsupportedError(
            f"np.where(condition) with one argument has a data-dependent shape and cannot "
            f"be traced (at {user_location()}); use np.where(condition, x, y)"
        )
    if find_trace((condition, x, y)) is None:
        return np.where(condition, x, y)
    if not (isinstance(condition, TracedArray) and condition.dtype == np.bool_):
        condition = astype(condition, np.bool_)
    weak = _is_weak(x) and _is_weak(y)
    x, y = promote("where", (x, y))
    return bind(where_p, condition, x, y, weak=weak)


def clip(x, a_min=None, a_max=None, out=None, *, min=None, max=None):  # noqa: A002
    _no_out("clip", out)
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    if lo is None and hi is None:
        raise TracegradError(
            f"clip: at least one of a_min or a_max must be given ({user_location()})"
        )
    if isinstance(lo, TracedArray) or isinstance(hi, TracedArray) or np.ndim(lo) or np.ndim(hi):
        # Array bounds: the composite NumPy documents, clip(x) = minimum(maximum(x, lo), hi).
        _check_broadcast("clip", x, lo, hi)
        if lo is not None:
            x = maximum(x, lo)
        return minimum(x, hi) if hi is not None else x
    lo = None if lo is None else np.asarray(lo).item()
    hi = None if hi is None else np.asarray(hi).item()
    return apply(clip_p, x, lo=lo, hi=hi)


# ----- composites (no primitive of their own) -----
def positive(x):
    return x


# Constants are Python floats (weak), so float32 stays float32 as in NumPy.
_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))


def log2(x):
    return div(log(x), _LN2)


def log10(x):
    return div(log(x), _LN10)


def exp2(x):
    return exp(mul(x, _LN2))


def sinh(x):
    return mul(sub(exp(x), exp(neg(x))), 0.5)


def cosh(x):
    return mul(add(exp(x), exp(neg(x))), 0.5)


def hypot(x, y):
    _check_broadcast("hypot", x, y)
    x, y = promote("hypot", (x, y))  # a Python-number operand must stay weak
    return sqrt(add(square(x), square(y)))


def _check_broadcast(op: str, *operands) -> None:
    """A composite checks its operands broadcast, so a mismatch names it (not an inner op)."""
    avals = [x if isinstance(x, TracedArray) else np.asarray(x) for x in operands if x is not None]
    try:
        broadcast_shapes(op, *avals)
    except ShapeError as exc:
        raise ShapeError(f"{exc} (at {user_location()})") from None


def rint(x):
    return round(x)


def _no_out(name, out):
    if out is not None:
        raise UnsupportedError(
            f"np.{name}(..., out=...) is not supported: traced arrays are immutable "
            f"({user_location()})"
        )


UFUNCS = {
    np.negative: neg, np.positive: positive, np.exp: exp, np.log: log, np.sin: sin,
    np.cos: cos, np.tan: tan, np.tanh: tanh, np.sqrt: sqrt, np.absolute: abs, np.fabs: abs,
    np.sign: sign, np.square: square, np.reciprocal: reciprocal, np.log1p: log1p,
    np.expm1: expm1, np.floor: floor, np.ceil: ceil, np.rint: rint,
    np.logical_not: logical_not, np.add: add, np.subtract: sub, np.multiply: mul,
    np.true_divide: div, np.power: power, np.maximum: maximum, np.minimum: minimum,
    np.less: less, np.less_equal: less_equal, np.greater: greater,
    np.greater_equal: greater_equal, np.equal: equal, np.not_equal: not_equal,
    np.logical_and: logical_and, np.logical_or: logical_or,
    np.log2: log2, np.log10: log10, np.exp2: exp2, np.sinh: sinh, np.cosh: cosh,
    np.hypot: hypot, np.bitwise_and: bitwise_and, np.bitwise_or: bitwise_or, np.invert: invert,
}  # fmt: skip

FUNCTIONS = {np.where: where, np.clip: clip, np.round: round, np.around: round}
