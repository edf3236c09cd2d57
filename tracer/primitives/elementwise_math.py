"""More elementwise math: inverse trigonometric and hyperbolic functions, remainders and floor
division, stable log-add-exp, NaN-ignoring extrema, sinc, cbrt, angle conversions, predicates,
copysign, heaviside, float_power and nan_to_num.

Each is a NumPy ufunc declared in one line from its partial derivatives (as in
``elementwise.py``), applied with NumPy's broadcasting and NEP 50 promotion by
``elementwise.apply``; ``sinc`` and ``nan_to_num`` are NumPy functions (``np.sinc``
a primitive, ``nan_to_num`` a composite of ``where``).

Values at kinks and singular points (``docs/derivatives.md`` has the table):
``remainder``/``mod``/``fmod`` take the derivative of the branch NumPy's value lies
on (d/dx0 = 1, d/dx1 = -quotient); ``floor_divide`` and the predicates have a zero
gradient; ``fmax``/``fmin`` split ties 1/2 like ``maximum`` and give the whole
gradient to the non-NaN operand; ``copysign'(0) = 0`` (as ``abs'(0)``), and nothing
flows to the sign operand; ``heaviside`` passes the gradient to its second operand
where ``x0 == 0`` only; ``sinc'(0) = 0`` (a series near 0, so higher derivatives are
right there too); ``cbrt'(0)``, ``arcsin'(±1)``, ``arccosh'(1)`` and ``arctanh'(±1)``
are inf; ``arctan2`` at the origin is nan (0/0); ``logaddexp`` of two equal infinities
gives 1/2 to each operand.
"""

from __future__ import annotations

import math

import numpy as np

from tracer.errors import UnsupportedError
from tracer.frames import user_location
from tracer.primitives.base import (
    Algebra,
    Primitive,
    binary,
    elementwise_rule,
    from_partials,
    unary,
)
from tracer.primitives.batching import ELEMENTWISE
from tracer.primitives.complex_parts import abs, sign
from tracer.primitives.elementwise import (
    add,
    apply,
    astype,
    cos,
    div,
    equal,
    exp,
    exp2,
    greater,
    less,
    log,
    logical_not,
    mul,
    neg,
    reciprocal,
    round,
    sqrt,
    square,
    sub,
    where,
)
from tracer.staging import Tracer, find_trace

_LN2 = math.log(2.0)
_PI = math.pi


def _one_minus_square(x):
    """``1 - x**2`` as ``(1 - x)(1 + x)``: no cancellation near ``|x| = 1``."""
    return mul(sub(1.0, x), add(1.0, x))


# ----- inverse trigonometric and hyperbolic functions -----
arcsin_p = unary(
    "arcsin", np.arcsin, lambda x, y: reciprocal(sqrt(_one_minus_square(x))), array_api="asin"
)
arccos_p = unary(
    "arccos", np.arccos, lambda x, y: neg(reciprocal(sqrt(_one_minus_square(x)))), array_api="acos"
)
arcsinh_p = unary(
    "arcsinh", np.arcsinh, lambda x, y: reciprocal(sqrt(add(square(x), 1.0))), array_api="asinh"
)
arccosh_p = unary("arccosh", np.arccosh,
                  lambda x, y: reciprocal(sqrt(mul(sub(x, 1.0), add(x, 1.0)))),
                  array_api="acosh")  # fmt: skip
arctanh_p = unary(
    "arctanh", np.arctanh, lambda x, y: reciprocal(_one_minus_square(x)), array_api="atanh"
)
arctan2_p = binary(
    "arctan2", np.arctan2, lambda x0, x1, y: _arctan2_partials(x0, x1), array_api="atan2"
)

# ----- remainders, floor division -----
remainder_p = binary("remainder", np.remainder,
                     vjp=lambda gy, x0, x1, y: _mod_vjp(gy, floor_divide(x0, x1)),
                     jvp=lambda ts, x0, x1, y: _mod_jvp(ts, floor_divide(x0, x1)),
                     array_api="remainder")  # fmt: skip
fmod_p = binary("fmod", np.fmod, vjp=lambda gy, x0, x1, y: _mod_vjp(gy, _trunc_quotient(x0, x1, y)),
                jvp=lambda ts, x0, x1, y: _mod_jvp(ts, _trunc_quotient(x0, x1, y)))  # fmt: skip
floor_divide_p = binary("floor_divide", np.floor_divide, array_api="floor_divide")

# ----- log-add-exp, NaN-ignoring extrema -----
logaddexp_p = binary(
    "logaddexp", np.logaddexp,
    lambda x0, x1, y: (_share(x0, x1, y, exp, _LN2), _share(x1, x0, y, exp, _LN2)),
    algebra=Algebra(commutative=True), array_api="logaddexp",
)  # fmt: skip
logaddexp2_p = binary(
    "logaddexp2", np.logaddexp2,
    lambda x0, x1, y: (_share(x0, x1, y, exp2, 1.0), _share(x1, x0, y, exp2, 1.0)),
    algebra=Algebra(commutative=True),
)  # fmt: skip
fmax_p = binary("fmax", np.fmax, lambda x0, x1, y: (_nan_split(x0, x1, greater),
                                                    _nan_split(x1, x0, greater)),
                algebra=Algebra(idempotent=True))  # fmt: skip
fmin_p = binary("fmin", np.fmin, lambda x0, x1, y: (_nan_split(x0, x1, less),
                                                    _nan_split(x1, x0, less)),
                algebra=Algebra(idempotent=True))  # fmt: skip

# ----- sinc, cbrt, angles -----
# np.sinc is a Python function, not a ufunc: generated code calls it without out=
sinc_p = Primitive(
    "sinc", np.sinc, elementwise_rule("sinc", np.sinc), 1, (),
    *from_partials(lambda x, y: (_sinc_derivative(x),)),
    elementwise=True, fresh=True, batch=ELEMENTWISE,
    lower=lambda a, p, lit: f"np.sinc({a[0]})",
)  # fmt: skip
cbrt_p = unary("cbrt", np.cbrt, lambda x, y: div(1.0 / 3.0, square(y)))
deg2rad_p = unary("deg2rad", np.deg2rad, vjp=lambda gy, x, y: (deg2rad(gy),),
                  jvp=lambda ts, x, y: deg2rad(ts[0]))  # fmt: skip
rad2deg_p = unary("rad2deg", np.rad2deg, vjp=lambda gy, x, y: (rad2deg(gy),),
                  jvp=lambda ts, x, y: rad2deg(ts[0]))  # fmt: skip

# ----- predicates (boolean results, zero gradient) -----
isfinite_p = unary("isfinite", np.isfinite, array_api="isfinite")
isnan_p = unary("isnan", np.isnan, array_api="isnan")
isinf_p = unary("isinf", np.isinf, array_api="isinf")
signbit_p = unary("signbit", np.signbit, array_api="signbit")

# ----- signs and steps -----
copysign_p = binary("copysign", np.copysign,
                    vjp=lambda gy, x0, x1, y: (mul(gy, _copysign_d(x0, x1)), None),
                    jvp=lambda ts, x0, x1, y: _first_only(ts, _copysign_d(x0, x1)),
                    array_api="copysign")  # fmt: skip
heaviside_p = binary("heaviside", np.heaviside,
                     vjp=lambda gy, x0, x1, y: (None, mul(gy, _at_zero(x0, gy.dtype))),
                     jvp=lambda ts, x0, x1, y: _second_only(ts, _at_zero(x0, y.dtype)))  # fmt: skip
float_power_p = binary("float_power", np.float_power,
                       lambda x0, x1, y: _float_power_partials(x0, x1, y))  # fmt: skip

PRIMITIVES = (
    arcsin_p, arccos_p, arcsinh_p, arccosh_p, arctanh_p, arctan2_p,
    remainder_p, fmod_p, floor_divide_p, logaddexp_p, logaddexp2_p, fmax_p, fmin_p,
    sinc_p, cbrt_p, deg2rad_p, rad2deg_p, isfinite_p, isnan_p, isinf_p, signbit_p,
    copysign_p, heaviside_p, float_power_p,
)  # fmt: skip


# ----- user-facing functions -----
def arcsin(x):
    return apply(arcsin_p, x)


def arccos(x):
    return apply(arccos_p, x)


def arcsinh(x):
    return apply(arcsinh_p, x)


def arccosh(x):
    return apply(arccosh_p, x)


def arctanh(x):
    return apply(arctanh_p, x)


def arctan2(x0, x1):
    return apply(arctan2_p, x0, x1)


def remainder(x0, x1):
    return apply(remainder_p, x0, x1)


mod = remainder  # np.mod is np.remainder


def fmod(x0, x1):
    return apply(fmod_p, x0, x1)


def floor_divide(x0, x1):
    return apply(floor_divide_p, x0, x1)


def divmod(x0, x1):  # noqa: A001  (NumPy's name)
    """``np.divmod`` and Python's ``divmod``: ``(x0 // x1, x0 % x1)``."""
    return floor_divide(x0, x1), remainder(x0, x1)


def logaddexp(x0, x1):
    return apply(logaddexp_p, x0, x1)


def logaddexp2(x0, x1):
    return apply(logaddexp2_p, x0, x1)


def fmax(x0, x1):
    return apply(fmax_p, x0, x1)


def fmin(x0, x1):
    return apply(fmin_p, x0, x1)


def sinc(x):
    return apply(sinc_p, x)


def cbrt(x):
    return apply(cbrt_p, x)


def deg2rad(x):
    return apply(deg2rad_p, x)


def rad2deg(x):
    return apply(rad2deg_p, x)


radians, degrees = deg2rad, rad2deg  # separate NumPy ufuncs with the same loops and numbers


def isfinite(x):
    return apply(isfinite_p, x)


def isnan(x):
    return apply(isnan_p, x)


def isinf(x):
    return apply(isinf_p, x)


def signbit(x):
    return apply(signbit_p, x)


def copysign(x0, x1):
    return apply(copysign_p, x0, x1)


def heaviside(x0, x1):
    return apply(heaviside_p, x0, x1)


def float_power(x0, x1):
    return apply(float_power_p, x0, x1)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``np.nan_to_num``: NaN, +inf and -inf replaced (by 0 and the dtype's largest and
    smallest finite numbers unless given); gradient 1 where ``x`` is finite, 0 elsewhere.
    ``copy`` changes nothing: traced values are immutable."""
    if find_trace((x, nan, posinf, neginf)) is None:
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    dtype = x.dtype if isinstance(x, Tracer) else np.asarray(x).dtype
    if dtype.kind == "c":
        raise UnsupportedError(
            f"np.nan_to_num of a complex traced array is not supported (at {user_location()}); "
            "apply it to the real and imaginary parts"
        )
    if dtype.kind not in "f":  # integers and booleans have no NaN or inf: NumPy returns x
        return x
    info = np.finfo(dtype)
    out = where(isnan(x), _fill(nan, dtype), x)
    out = where(equal(x, np.inf), _fill(info.max if posinf is None else posinf, dtype), out)
    return where(equal(x, -np.inf), _fill(info.min if neginf is None else neginf, dtype), out)


def _fill(value, dtype):
    """A replacement value in ``x``'s dtype, as NumPy's nan_to_num casts it."""
    if isinstance(value, Tracer):
        return astype(value, dtype)
    with np.errstate(over="ignore"):
        return np.asarray(value, dtype=dtype)


# ----- local derivatives -----


def _arctan2_partials(x0, x1):
    # d/dx0 atan2(x0, x1) = x1 / r2, d/dx1 = -x0 / r2; nan at the origin (0/0), as JAX
    r2 = add(square(x0), square(x1))
    return div(x1, r2), neg(div(x0, r2))


def _mod_vjp(gy, quotient):
    """``x0 - x1 * q`` for a piecewise-constant quotient ``q``: d/dx0 = 1, d/dx1 = -q."""
    return gy, neg(mul(gy, quotient))


def _mod_jvp(ts, quotient):
    t0, t1 = ts
    t1 = None if t1 is None else neg(mul(t1, quotient))
    return t1 if t0 is None else (t0 if t1 is None else add(t0, t1))


def _trunc_quotient(x0, x1, y):
    # fmod(x0, x1) = x0 - x1 * trunc(x0 / x1) exactly; (x0 - y) / x1 is that integer up to
    # rounding, which rint removes (trunc(x0 / x1) itself can be off by one)
    return round(div(sub(x0, y), x1))


def _share(x0, x1, y, exp_fn, log_base2):
    """d/dx0 of log-add-exp: ``exp(x0 - y)``, the share of ``x0`` in the sum. Where ``y`` is
    infinite (``x0 - y`` may be ``inf - inf``): 1/2 for two equal infinities, else 1 for
    the operand that is ``y`` and 0 for the other."""
    c = np.array([-log_base2, 0.0, -np.inf], dtype=y.dtype)
    at_inf = where(equal(x0, x1), c[0], where(equal(x0, y), c[1], c[2]))
    return exp_fn(where(isinf(y), at_inf, sub(x0, y)))


def _tie_split(x0, x1, wins):
    """Weight 1 where x0 wins, 1/2 where tied, 0 where x1 wins (as ``maximum``)."""
    dt = np.result_type(x0.dtype, x1.dtype)
    return add(astype(wins(x0, x1), dt), mul(astype(equal(x0, x1), dt), 0.5))


def _nan_split(x0, x1, wins):
    """fmax/fmin: a NaN operand is ignored, so the other one gets the whole gradient."""
    dt = np.result_type(x0.dtype, x1.dtype)
    return where(isnan(x1), astype(logical_not(isnan(x0)), dt), _tie_split(x0, x1, wins))


# sinc'(x) = pi^2 x Q((pi x)^2) near 0: Q's coefficients (-1)^(j+1) 2(j+1) / (2j+3)!, enough
# terms for float64 below _SINC_SERIES; above it (cos(pi x) - sinc(x)) / x loses little.
_SINC_SERIES = 0.25
_SINC_Q = [(-1) ** (j + 1) * 2 * (j + 1) / math.factorial(2 * j + 3) for j in range(9)]


def _sinc_derivative(x):
    small = less(abs(x), _SINC_SERIES)
    xs = where(small, 1.0, x)  # the closed form away from 0 (0/0 at 0, even unselected)
    closed = div(sub(cos(mul(xs, _PI)), sinc(xs)), xs)
    u2 = square(mul(x, _PI))
    q = _SINC_Q[-1]
    for c in reversed(_SINC_Q[:-1]):
        q = add(mul(q, u2), c)
    return where(small, mul(mul(x, _PI * _PI), q), closed)


def _copysign_d(x0, x1):
    """d/dx0 copysign(x0, x1) = sign(x0) * (-1 if signbit(x1) else 1); 0 at x0 = 0."""
    one = np.ones((), dtype=np.result_type(x0.dtype, x1.dtype))
    return mul(sign(x0), where(signbit(x1), neg(one), one))


def _first_only(ts, d0):
    return None if ts[0] is None else mul(ts[0], d0)


def _at_zero(x0, dtype):
    return astype(equal(x0, 0.0), dtype)


def _second_only(ts, d1):
    return None if ts[1] is None else mul(ts[1], d1)


def _float_power_partials(x0, x1, y):
    # as power's partials, computed in the result's dtype (float_power works in float64)
    x0, x1 = astype(x0, y.dtype), astype(x1, y.dtype)
    zero = np.zeros((), dtype=y.dtype)
    d0 = where(equal(x1, 0.0), zero, mul(x1, float_power(x0, sub(x1, 1.0))))
    safe = where(equal(x0, 0.0), np.ones((), y.dtype), x0)
    return d0, mul(log(safe), y)


# ----- how NumPy maps onto these functions -----
NUMPY = {
    np.arcsin: arcsin, np.arccos: arccos, np.arcsinh: arcsinh, np.arccosh: arccosh,
    np.arctanh: arctanh, np.arctan2: arctan2, np.remainder: remainder, np.fmod: fmod,
    np.floor_divide: floor_divide, np.divmod: divmod, np.logaddexp: logaddexp,
    np.logaddexp2: logaddexp2, np.fmax: fmax, np.fmin: fmin, np.sinc: sinc, np.cbrt: cbrt,
    np.deg2rad: deg2rad, np.radians: radians, np.rad2deg: rad2deg, np.degrees: degrees,
    np.isfinite: isfinite, np.isnan: isnan, np.isinf: isinf, np.signbit: signbit,
    np.copysign: copysign, np.heaviside: heaviside, np.float_power: float_power,
    np.nan_to_num: nan_to_num,
}  # fmt: skip
METHODS: dict = {}  # ndarray has none of these as methods (``%``, ``//``, divmod: operators)
ATTRIBUTES: dict = {}

__all__ = [
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan2", "arctanh", "cbrt", "copysign",
    "deg2rad", "degrees", "divmod", "float_power", "floor_divide", "fmax", "fmin", "fmod",
    "heaviside", "isfinite", "isinf", "isnan", "logaddexp", "logaddexp2", "mod", "nan_to_num",
    "rad2deg", "radians", "remainder", "signbit", "sinc",
]  # fmt: skip
