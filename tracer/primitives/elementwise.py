"""Elementwise primitives: unary math, binary arithmetic, comparisons, where, clip, astype.

Binary ops broadcast like NumPy and promote dtypes like NumPy; Python scalars
are *weak* (NEP 50): ``x32 * 2.0`` stays float32. Each primitive's declaration
holds everything about it: NumPy implementation and shape rule, local
derivatives (``d``: the partial derivatives, written with traceable ops), the
ufunc generated code calls, algebraic facts and rewrites for the optimiser.
``abs`` and ``sign`` live with the other parts of a complex number in ``complex_parts``.

Values at kinks (``docs/derivatives.md`` has the whole table): ties in
``maximum``/``minimum`` split 1/2 to each operand (as ``jnp.maximum``); ``clip`` counts
its bounds as inside; ``sqrt'(0)`` and ``log'(0)`` are inf; ``pow`` with respect to the
exponent at base 0 is 0, with respect to the base where the exponent is 0 is 0 (as JAX and
PyTorch).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives.base import (
    Algebra,
    Primitive,
    add_tangents,
    binary,
    broadcast_shapes,
    elementwise_rule,
    from_partials,
    linear,
    result_dtype,
    unary,
)
from tracer.primitives.batching import ELEMENTWISE
from tracer.spec import canonical_dtype
from tracer.staging import Tracer, bind, find_trace

_PY_SCALARS = (bool, int, float, complex)


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
# ----- calls through the array-API namespace ``xp`` (the array_api back end) -----
def _reciprocal_xp(a, p, lit):
    return f"xp.divide(xp.ones_like({a[0]}), {a[0]})"


def _round_xp(a, p, lit):
    if p["decimals"] != 0:
        raise UnsupportedError("round with decimals != 0 has no array-API form")
    return f"xp.round({a[0]})"


def _where_xp(a, p, lit):
    return f"xp.where({a[0]}, {a[1]}, {a[2]})"


def _clip_xp(a, p, lit):
    return f"xp.clip({a[0]}, min={lit.value(p['lo'])}, max={lit.value(p['hi'])})"


def _astype_xp(a, p, lit):
    return f"xp.astype({a[0]}, {lit.xp_dtype(p['dtype'])})"


_neg_vjp, _neg_jvp = linear(lambda t: neg(t), lambda gy, x: neg(gy))
neg_p = unary("neg", np.negative, vjp=_neg_vjp, jvp=_neg_jvp,
               algebra=Algebra(involution=True, poly=operator.neg),
               rewrites=(lambda c, n, a: _neg_rewrites(c, n, a),),
               array_api="negative")  # fmt: skip
exp_p = unary("exp", np.exp, lambda x, y: y, array_api="exp")
log_p = unary("log", np.log, lambda x, y: reciprocal(x), array_api="log")
sin_p = unary("sin", np.sin, lambda x, y: cos(x), array_api="sin")
cos_p = unary("cos", np.cos, lambda x, y: neg(sin(x)), array_api="cos")
tan_p = unary("tan", np.tan, lambda x, y: add(1.0, square(y)), array_api="tan")
tanh_p = unary("tanh", np.tanh, lambda x, y: sub(1.0, square(y)), array_api="tanh")
arctan_p = unary(
    "arctan", np.arctan, lambda x, y: reciprocal(add(1.0, square(x))), array_api="atan"
)
sqrt_p = unary("sqrt", np.sqrt, lambda x, y: div(0.5, y), array_api="sqrt")
square_p = unary("square", np.square, lambda x, y: mul(2.0, x),
                  algebra=Algebra(poly=lambda p: p * p), array_api="square")  # fmt: skip
reciprocal_p = unary(
    "reciprocal", np.reciprocal, lambda x, y: neg(square(y)), array_api=_reciprocal_xp
)
log1p_p = unary("log1p", np.log1p, lambda x, y: reciprocal(add(1.0, x)), array_api="log1p")
expm1_p = unary("expm1", np.expm1, lambda x, y: add(y, 1.0), array_api="expm1")
floor_p = unary("floor", np.floor, algebra=Algebra(idempotent=True), array_api="floor")
ceil_p = unary("ceil", np.ceil, algebra=Algebra(idempotent=True), array_api="ceil")
round_p = Primitive(
    "round",
    _round_impl,
    elementwise_rule("round", _round_impl),
    1,
    ("decimals",),
    zero_grad=True,
    elementwise=True,
    batch=ELEMENTWISE,
    lower=lambda a, p, lit: f"np.round({a[0]}, {lit.int(p['decimals'])})",
    array_api=_round_xp,
)  # fmt: skip  (not fresh: NumPy returns an integer input itself)
logical_not_p = unary(
    "logical_not", np.logical_not, algebra=Algebra(involution=True), array_api="logical_not"
)

# ----- binary elementwise -----
add_p = binary(
    "add", np.add, vjp=lambda gy, x0, x1, y: (gy, gy), jvp=lambda ts, x0, x1, y: add_tangents(*ts),
    algebra=Algebra(commutative=True, identity=0, poly=operator.add),
    rewrites=(lambda c, n, a, b: _add_rewrites(c, n, a, b),), array_api="add",
)  # fmt: skip
sub_p = binary(
    "sub", np.subtract, vjp=lambda gy, x0, x1, y: (gy, neg(gy)),
    jvp=lambda ts, x0, x1, y: add_tangents(ts[0], None if ts[1] is None else neg(ts[1])),
    algebra=Algebra(identity=0, self_inverse=0, poly=operator.sub),
    rewrites=(lambda c, n, a, b: _sub_rewrites(c, n, a, b),), array_api="subtract",
)  # fmt: skip
mul_p = binary("mul", np.multiply, lambda x0, x1, y: (x1, x0),
                algebra=Algebra(commutative=True, identity=1, absorbing=0, poly=operator.mul),
                rewrites=(lambda c, n, a, b: _mul_rewrites(c, n, a, b),),
                array_api="multiply")  # fmt: skip
div_p = binary("div", np.divide, lambda x0, x1, y: (reciprocal(x1), neg(div(y, x1))),
                algebra=Algebra(identity=1),
                rewrites=(lambda c, n, a, b: _div_rewrites(c, n, a, b),),
                array_api="divide")  # fmt: skip
pow_p = binary("pow", np.power, lambda x0, x1, y: _pow_partials(x0, x1, y),
                algebra=Algebra(identity=1),
                rewrites=(lambda c, n, a, b: _pow_rewrites(c, n, a, b),),
                array_api="pow")  # fmt: skip
maximum_p = binary(
    "maximum", np.maximum,
    lambda x0, x1, y: (_tie_split(x0, x1, greater), _tie_split(x1, x0, greater)),
    algebra=Algebra(idempotent=True), ufunc_out="keyword",  # NumPy 2 deprecates positional out
    array_api="maximum",
)  # fmt: skip
minimum_p = binary(
    "minimum", np.minimum, lambda x0, x1, y: (_tie_split(x0, x1, less), _tie_split(x1, x0, less)),
    algebra=Algebra(idempotent=True), ufunc_out="keyword", array_api="minimum",
)  # fmt: skip

# ----- comparisons and logic (boolean results, zero gradient) -----
less_p = binary("less", np.less, array_api="less")
less_equal_p = binary("less_equal", np.less_equal, array_api="less_equal")
greater_p = binary("greater", np.greater, array_api="greater")
greater_equal_p = binary("greater_equal", np.greater_equal, array_api="greater_equal")
equal_p = binary("equal", np.equal, algebra=Algebra(commutative=True), array_api="equal")
not_equal_p = binary(
    "not_equal", np.not_equal, algebra=Algebra(commutative=True), array_api="not_equal"
)
logical_and_p = binary("logical_and", np.logical_and,
                        algebra=Algebra(commutative=True, idempotent=True),
                        array_api="logical_and")  # fmt: skip
logical_or_p = binary("logical_or", np.logical_or,
                       algebra=Algebra(commutative=True, idempotent=True),
                       array_api="logical_or")  # fmt: skip

# ----- selection and casts -----
where_p = Primitive(
    "where", np.where, _where_rule, 3, vjp=lambda gy, c, x0, x1, y: _where_vjp(gy, c),
    jvp=lambda ts, c, x0, x1, y: _where_jvp(ts, c, y), structural=lambda i: i == 0,
    elementwise=True, batch=ELEMENTWISE, fresh=True,
    lower=lambda a, p, lit: f"np.where({a[0]}, {a[1]}, {a[2]})",
    rewrites=(lambda c, n, cond, x, y: _where_rewrites(c, n, cond, x, y),), array_api=_where_xp,
)  # fmt: skip
clip_p = Primitive(
    "clip", _clip_impl, _clip_rule, 1, ("lo", "hi"),
    *from_partials(lambda x, y, lo, hi: (_clip_mask(x, lo, hi),)),
    elementwise=True, batch=ELEMENTWISE, fresh=True,
    lower=lambda a, p, lit: f"np.clip({a[0]}, {lit.value(p['lo'])}, {lit.value(p['hi'])})",
    array_api=_clip_xp,
)  # fmt: skip
astype_p = Primitive(
    "astype", _astype_impl, _astype_rule, 1, ("dtype",),
    # the drivers cast tangents and gradients to each value's dtype, centrally (a complex
    # one of a real value is projected onto its real part there, never cast)
    vjp=lambda gy, x, y, dtype: (gy,), jvp=lambda ts, x, y, dtype: ts[0],
    elementwise=True, batch=ELEMENTWISE, fresh=True,
    lower=lambda a, p, lit: f"{a[0]}.astype({lit.dtype(p['dtype'])})",
    rewrites=(lambda c, n, a: (a, "astype(same)") if c.dtype(a) == c.dtype(n) else (None, None),),
    array_api=_astype_xp,
)  # fmt: skip

PRIMITIVES = (
    neg_p, exp_p, log_p, sin_p, cos_p, tan_p, tanh_p, arctan_p, sqrt_p, square_p,
    reciprocal_p, log1p_p, expm1_p, floor_p, ceil_p, round_p, logical_not_p,
    add_p, sub_p, mul_p, div_p, pow_p, maximum_p, minimum_p,
    less_p, less_equal_p, greater_p, greater_equal_p, equal_p, not_equal_p,
    logical_and_p, logical_or_p,
    where_p, clip_p, astype_p,
)  # fmt: skip


# ----- promotion of weak (Python scalar) operands -----


def weak_repr(a):
    """What ``np.result_type`` should see for ``a``: Python scalars stay weak."""
    if isinstance(a, Tracer):
        if a.weak:
            return {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}[a.dtype.kind]
        return a.dtype
    if isinstance(a, _PY_SCALARS):
        return a
    return np.asarray(a).dtype


def _is_weak(a) -> bool:
    return isinstance(a, _PY_SCALARS) or (isinstance(a, Tracer) and a.weak)


def promote(op: str, args: tuple) -> tuple:
    """Cast weak operands (Python scalars, Python-number inputs) to NumPy's promoted dtype."""
    if not any(_is_weak(a) for a in args) or len(args) < 2:
        return args
    try:
        target = np.result_type(*[weak_repr(a) for a in args])
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
        elif isinstance(a, Tracer) and a.weak and a.dtype != target:
            a = bind(astype_p, a, weak=True, dtype=target.name)
        out.append(a)
    return tuple(out)


_COMPARISONS = frozenset(("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"))


def _widen(op: str, args: tuple, dtype: np.dtype) -> tuple:
    """All operands cast to ``dtype``, wide enough for a Python int the operands' type is not."""
    if dtype.kind not in "iuf":
        raise TracegradError(f"{op}: cannot compare with {args} exactly (at {user_location()})")
    return tuple(
        astype(a, dtype) if isinstance(a, Tracer) else np.asarray(a, dtype=dtype) for a in args
    )


def apply(prim: Primitive, *args, **params):
    """Apply an elementwise primitive with NumPy's broadcasting and promotion."""
    if find_trace(args) is None:  # NumPy's own call: a NumPy ufunc keeps Python numbers weak
        keep = prim.ufunc is not None
        return prim.impl(*[a if keep and isinstance(a, _PY_SCALARS) else np.asarray(a)
                           for a in args], **params)  # fmt: skip
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


def arctan(x):
    return apply(arctan_p, x)


def sqrt(x):
    return apply(sqrt_p, x)


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
        dt = a.dtype if isinstance(a, (Tracer, np.ndarray, np.generic)) else type(a)
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
    if isinstance(x, Tracer) and x.dtype == dt:
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
    if not (isinstance(condition, Tracer) and condition.dtype == np.bool_):
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
    if isinstance(lo, Tracer) or isinstance(hi, Tracer) or np.ndim(lo) or np.ndim(hi):
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
    if any((a.dtype if hasattr(a, "dtype") else np.result_type(a)).kind == "c" for a in (x, y)):
        # NumPy raises a TypeError: the composite below would give a complex number
        raise TracegradError(f"hypot: not defined for complex operands ({user_location()})")
    return sqrt(add(square(x), square(y)))


def _check_broadcast(op: str, *operands) -> None:
    """A composite checks its operands broadcast, so a mismatch names it (not an inner op)."""
    avals = [x if isinstance(x, Tracer) else np.asarray(x) for x in operands if x is not None]
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


# ----- local derivatives -----


def _pow_partials(x0, x1, y):
    # d/dx0 x0**x1 = x1 * x0**(x1 - 1); taken as 0 where x1 == 0 (0 * 0**-1 would be nan),
    # as JAX and PyTorch do, so x**0 and high derivatives of x**n are finite at 0
    zero = np.zeros((), dtype=y.dtype)
    d0 = where(equal(x1, 0.0), zero, mul(x1, power(x0, sub(x1, 1.0))))
    # d/dx1 x0**x1 = log(x0) * y; taken as 0 where x0 == 0 (as JAX does)
    safe = where(equal(x0, 0.0), np.ones((), x0.dtype), x0)
    return d0, mul(log(safe), y)


def _tie_split(x0, x1, wins):
    """Weight 1 where x0 wins, 1/2 where tied, 0 where x1 wins (dtype of the result)."""
    dt = np.result_type(x0.dtype, x1.dtype)
    w = astype(wins(x0, x1), dt)
    tie = astype(equal(x0, x1), dt)
    return add(w, mul(tie, 0.5))


def _where_vjp(gy, c):
    zero = np.zeros((), dtype=gy.dtype)
    return None, where(c, gy, zero), where(c, zero, gy)


def _where_jvp(ts, c, y):
    _, t0, t1 = ts
    if t0 is None and t1 is None:
        return None
    zero = np.zeros((), dtype=y.dtype)
    return where(c, zero if t0 is None else t0, zero if t1 is None else t1)


def _clip_mask(x, lo, hi):
    mask = None
    if lo is not None:
        mask = greater_equal(x, lo)
    if hi is not None:
        upper = less_equal(x, hi)
        mask = upper if mask is None else logical_and(mask, upper)
    return astype(mask, x.dtype)


# ----- rewrites (the optimiser calls them with its rewriting context ``c``) -----
# Identities, absorbing elements, involutions and ``x - x`` come from the ``Algebra``
# facts; these are the rewrites particular to one op. Each returns (new node, label).


def _is(u, value) -> bool:
    return u is not None and u == value


def _pow2(k) -> bool:
    """Scaling by a power of two is exact, so constants next to one reassociate exactly."""
    v = k.item() if hasattr(k, "item") else k
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v == 0:
        return False
    return math.frexp(abs(v))[0] == 0.5


def _add_rewrites(c, n, a, b):
    oa, ob = c.op(a), c.op(b)
    if ob == "neg":
        return c.new("sub", [a, c.arg0(b)], {}, n), "x+neg(y)"
    if oa == "neg":
        return c.new("sub", [b, c.arg0(a)], {}, n), "x+neg(y)"
    if oa == ob == "mul":
        return _factor(c, n, a, b, "add")
    return None, None


def _factor(c, n, a, b, op):
    """``x*y + x*z`` -> ``x*(y+z)`` (and ``-``): one multiplication fewer (rounds differently)."""
    if not (c.op(a) == c.op(b) == "mul" and c.is_float(n) and c.sole_use(a) and c.sole_use(b)):
        return None, None
    pa, pb = c.args(a), c.args(b)
    dt = c.dtype(n)
    if any(c.dtype(u) != dt for u in (*pa, *pb)):
        return None, None
    for i in (0, 1):
        for j in (0, 1):
            if pa[i] == pb[j]:
                y, z = pa[1 - i], pb[1 - j]
                try:
                    inner_shape = tuple(np.broadcast_shapes(c.shape(y), c.shape(z)))
                except ValueError:
                    return None, None
                inner = c.new(op, [y, z], {}, n, shape=inner_shape)
                return c.new("mul", [pa[i], inner], {}, n), f"x*y{'+' if op == 'add' else '-'}x*z"
    return None, None


def _sub_rewrites(c, n, a, b):
    if _is(c.uniform(a), 0) and c.is_numeric(n):
        return c.unary("neg", b, n), "0-x"
    oa, ob = c.op(a), c.op(b)
    if ob == "neg":
        return c.new("add", [a, c.arg0(b)], {}, n), "x-neg(y)"
    if oa == "neg" and c.is_float(n) and c.sole_use(a):
        return c.new("neg", [c.new("add", [c.arg0(a), b], {}, n)], {}, n), "neg(x)-y"
    if oa == ob == "mul":
        return _factor(c, n, a, b, "sub")
    return None, None


def _mul_rewrites(c, n, a, b):
    numeric = c.is_numeric(n)
    if numeric and _is(c.uniform(b), -1):
        return c.unary("neg", a, n), "x*-1"
    if numeric and _is(c.uniform(a), -1):
        return c.unary("neg", b, n), "x*-1"
    if a == b and numeric:
        return c.unary("square", a, n), "x*x"
    oa, ob = c.op(a), c.op(b)
    if oa == ob == "neg":
        return c.new("mul", [c.arg0(a), c.arg0(b)], {}, n), "neg*neg"
    if oa not in ("neg", "mul") and ob not in ("neg", "mul") or not c.is_float(n):
        return None, None
    for x, k in ((a, b), (b, a)):
        kv = c.scalar(k)
        if kv is None or c.dtype(x) != c.dtype(n):
            continue
        if c.op(x) == "neg":  # -x * k = x * -k, exactly
            return c.new("mul", [c.arg0(x), c.const(-kv, n)], {}, n), "neg(x)*k"
        inner = c.scaled(x)
        if inner is not None and c.dtype(inner[0]) == c.dtype(n):
            y, kv2 = inner
            if _pow2(kv) or _pow2(kv2):  # exact: (y*k2)*k = y*(k2*k)
                k12 = c.const(np.multiply(kv2, kv, dtype=c.dtype(n)), n)
                return c.new("mul", [y, k12], {}, n), "(x*k1)*k2"
    for x, y in ((a, b), (b, a)):
        if c.op(x) == "neg" and c.sole_use(x) and c.scalar(y) is None:
            m = c.new("mul", [c.arg0(x), y], {}, n)  # move the sign out, where +/- absorb it
            return c.new("neg", [m], {}, n), "neg(x)*y"
    return None, None


def _div_rewrites(c, n, a, b):
    kv = c.scalar(b)
    if kv is not None and c.is_float(n) and c.dtype(a) == c.dtype(n) and _pow2(kv):
        inv = np.divide(1, kv, dtype=c.dtype(n))  # exact for a power of two
        return c.new("mul", [a, c.const(inv, n)], {}, n), "x/2**k"
    return None, None


def _pow_rewrites(c, n, a, b):
    p = c.uniform(b)
    if p is None or isinstance(p, (bool, complex)) or c.dtype(a) != c.dtype(n):
        return None, None
    if p == 0:
        return c.filled(n, 1), "x**0"
    kind = np.dtype(c.dtype(n)).kind
    if kind not in "iuf" or (kind != "f" and p < 0):
        return None, None
    if p == 2:
        return c.unary("square", a, n), "x**2"
    if p in (3, 4):
        sq = c.new("square", [a], {}, n, shape=c.shape(a))
        y = c.new("mul", [sq, a], {}, n, shape=c.shape(a)) if p == 3 else c.unary("square", sq, n)
        return (c.fit(y, n) if p == 3 else y), f"x**{int(p)}"
    if kind == "f" and p == -1:
        return c.unary("reciprocal", a, n), "x**-1"
    if kind == "f" and p == -2:
        sq = c.new("square", [a], {}, n, shape=c.shape(a))
        return c.unary("reciprocal", sq, n), "x**-2"
    if kind == "f" and p == 0.5:
        return c.unary("sqrt", a, n), "x**0.5"
    return None, None


def _neg_rewrites(c, n, a):
    inner = c.scaled(a)
    if inner is not None and c.is_float(n) and c.dtype(inner[0]) == c.dtype(n):
        return c.new("mul", [inner[0], c.const(-inner[1], n)], {}, n), "neg(x*k)"
    if c.op(a) == "sub" and c.is_float(n) and c.sole_use(a):
        x, y = c.args(a)
        return c.new("sub", [y, x], {}, n), "neg(x-y)"
    return None, None


def _where_rewrites(c, n, cond, x, y):
    if x == y:
        return c.fit(x, n), "where(c,x,x)"
    flag = c.uniform(cond)
    if flag is True:
        return c.fit(x, n), "where(True)"
    if flag is False:
        return c.fit(y, n), "where(False)"
    return None, None


# ----- how NumPy maps onto these functions -----


def _clip_method(x, min=None, max=None, out=None, **kwargs):  # noqa: A002
    return clip(x, min, max, out=out, **kwargs)


def _round_method(x, decimals=0, out=None):
    return round(x, decimals, out)


def _astype_method(x, dtype, order="K", casting="unsafe", subok=True, copy=True):
    return astype(x, dtype)


NUMPY = {
    np.negative: neg, np.positive: positive, np.exp: exp, np.log: log, np.sin: sin,
    np.cos: cos, np.tan: tan, np.tanh: tanh, np.arctan: arctan, np.sqrt: sqrt,
    np.square: square, np.reciprocal: reciprocal, np.log1p: log1p,
    np.expm1: expm1, np.floor: floor, np.ceil: ceil, np.rint: rint,
    np.logical_not: logical_not, np.add: add, np.subtract: sub, np.multiply: mul,
    np.true_divide: div, np.power: power, np.maximum: maximum, np.minimum: minimum,
    np.less: less, np.less_equal: less_equal, np.greater: greater,
    np.greater_equal: greater_equal, np.equal: equal, np.not_equal: not_equal,
    np.logical_and: logical_and, np.logical_or: logical_or,
    np.log2: log2, np.log10: log10, np.exp2: exp2, np.sinh: sinh, np.cosh: cosh,
    np.hypot: hypot, np.bitwise_and: bitwise_and, np.bitwise_or: bitwise_or, np.invert: invert,
    np.where: where, np.clip: clip, np.round: round, np.around: round,
}  # fmt: skip
METHODS = {"astype": _astype_method, "clip": _clip_method, "round": _round_method}
ATTRIBUTES: dict = {}

__all__ = [
    "add", "arctan", "astype", "bitwise_and", "bitwise_or", "ceil", "clip", "cos", "cosh",
    "div", "equal", "exp", "exp2", "expm1", "floor", "greater", "greater_equal", "hypot", "invert",
    "less", "less_equal", "log", "log1p", "log2", "log10", "logical_and", "logical_not",
    "logical_or", "maximum", "minimum", "mul", "neg", "not_equal", "positive", "power",
    "reciprocal", "rint", "round", "sin", "sinh", "sqrt", "square", "sub", "tan",
    "tanh", "where",
]  # fmt: skip
