"""SciPy's special functions as primitives: ``scipy.special.erf(x)`` on a traced ``x`` traces.

``scipy.special``'s functions are NumPy ufuncs, so a traced value receives them
through ``__array_ufunc__``; ``numpy_api`` recognises them by name (``SCIPY``,
keyed by the ufunc's ``__name__``) without importing SciPy. SciPy stays optional:
nothing here imports it until a primitive is evaluated (``impl`` imports
``scipy.special`` on first use), and generated code calls that same ``impl``
(``lower=CALL_IMPL``), since its namespace holds only ``np``.

Derivatives are closed forms written with traceable ops, so they differentiate
again: ``gammaln' = digamma``, ``digamma' = polygamma(1, .)``, ``polygamma(n, .)' =
polygamma(n + 1, .)``, ``erf' = 2/sqrt(pi) exp(-x^2)``, ``log_ndtr' = pdf / ndtr``
(as ``exp(log pdf - log_ndtr)``, finite far in the left tail), ``i1e'`` with its
``x = 0`` limit (1/2). Values at singular points (``docs/derivatives.md``):
``logit'(0) = logit'(1) = inf``, ``erfinv'(±1) = inf``, ``entr'(0) = inf``,
``i0e'(0) = 0``; ``xlogy(x, y)`` and ``xlog1py`` have d/dy = 0 where ``x == 0``
(they are 0 there for every y); ``rel_entr`` has d/dx = -inf at ``x = 0``;
outside a function's domain (``entr`` of x < 0, ``rel_entr`` off x, y > 0) the
gradient is 0.

``polygamma(n, x)`` (a Python function in SciPy, which computes in float64) keeps
float32 float32 here, like the ufuncs, so float32 gradients stay float32.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np

from tracer.errors import TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives.base import CALL_IMPL, Primitive, elementwise_rule, from_partials
from tracer.primitives.batching import ELEMENTWISE
from tracer.primitives.complex_parts import sign
from tracer.primitives.elementwise import (
    add,
    apply,
    astype,
    div,
    equal,
    exp,
    greater,
    greater_equal,
    log,
    log1p,
    logical_and,
    mul,
    neg,
    reciprocal,
    square,
    sub,
    where,
)
from tracer.staging import Tracer, bind, find_trace

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@functools.cache
def _scipy_special():
    """``scipy.special``, imported on first use: SciPy is an optional dependency."""
    try:
        import scipy.special
    except ImportError:
        raise UnsupportedError(
            f"SciPy's special functions need SciPy (at {user_location()}): pip install scipy"
        ) from None
    return scipy.special


def _ufunc_impl(ufunc: str):
    def impl(*xs):
        return getattr(_scipy_special(), ufunc)(*xs)

    impl.__name__ = impl.__qualname__ = ufunc
    return impl


def _special(name: str, arity: int, d, ufunc: str | None = None) -> Primitive:
    """An elementwise primitive computed by ``scipy.special.<ufunc>``, from its partials
    ``d(*xs, y)`` (one per operand)."""
    impl = _ufunc_impl(ufunc or name)
    return Primitive(
        name, impl, elementwise_rule(name, impl), arity, (), *from_partials(d),
        elementwise=True, fresh=True, batch=ELEMENTWISE, lower=CALL_IMPL,
    )  # fmt: skip


def _polygamma_impl(x, n):
    # SciPy computes in float64; float32 stays float32 here (the dtype of psi(x))
    sc = _scipy_special()
    return np.asarray(sc.polygamma(n, x)).astype(np.asarray(sc.psi(x)).dtype, copy=False)


_psi_rule = elementwise_rule("polygamma", _ufunc_impl("psi"))


def _polygamma_rule(x, n):
    if np.dtype(x.dtype).kind == "c":  # SciPy's polygamma has no complex loop (digamma has)
        raise UnsupportedError(
            "scipy.special.polygamma of complex values is not defined in SciPy, so the "
            "derivative of digamma of a complex value is not available"
        )
    return _psi_rule(x)


# ----- the primitives -----
expit_p = _special("expit", 1, lambda x, y: (mul(y, expit(neg(x))),))
logit_p = _special("logit", 1, lambda x, y: (reciprocal(mul(x, sub(1.0, x))),))
erf_p = _special("erf", 1, lambda x, y: (mul(exp(neg(square(x))), _TWO_OVER_SQRT_PI),))
erfc_p = _special("erfc", 1, lambda x, y: (mul(exp(neg(square(x))), -_TWO_OVER_SQRT_PI),))
erfinv_p = _special("erfinv", 1, lambda x, y: (mul(exp(square(y)), 1.0 / _TWO_OVER_SQRT_PI),))
gammaln_p = _special("gammaln", 1, lambda x, y: (digamma(x),))
digamma_p = _special("digamma", 1, lambda x, y: (polygamma(1, x),), ufunc="psi")
polygamma_p = Primitive(
    "polygamma", _polygamma_impl, _polygamma_rule, 1, ("n",),
    *from_partials(lambda x, y, n: (polygamma(n + 1, x),)),
    elementwise=True, fresh=True, batch=ELEMENTWISE, lower=CALL_IMPL,  # n is a param
)  # fmt: skip
betaln_p = _special("betaln", 2, lambda a, b, y: _betaln_partials(a, b))
xlogy_p = _special("xlogy", 2, lambda x0, x1, y: (log(x1), div(x0, _safe(x0, x1, 0.0, 1.0))))
xlog1py_p = _special("xlog1py", 2, lambda x0, x1, y: (
    log1p(x1), div(x0, add(_safe(x0, x1, -1.0, 0.0), 1.0))))  # fmt: skip
ndtr_p = _special("ndtr", 1, lambda x, y: (exp(sub(mul(square(x), -0.5), _HALF_LOG_2PI)),))
log_ndtr_p = _special("log_ndtr", 1, lambda x, y: (
    exp(sub(sub(mul(square(x), -0.5), _HALF_LOG_2PI), y)),))  # fmt: skip
entr_p = _special("entr", 1, lambda x, y: (_entr_derivative(x),))
rel_entr_p = _special("rel_entr", 2, lambda x0, x1, y: _rel_entr_partials(x0, x1))
i0e_p = _special("i0e", 1, lambda x, y: (sub(i1e(x), mul(sign(x), y)),))
i1e_p = _special("i1e", 1, lambda x, y: (_i1e_derivative(x, y),))

PRIMITIVES = (
    expit_p, logit_p, erf_p, erfc_p, erfinv_p, gammaln_p, digamma_p, polygamma_p, betaln_p,
    xlogy_p, xlog1py_p, ndtr_p, log_ndtr_p, entr_p, rel_entr_p, i0e_p, i1e_p,
)  # fmt: skip


# ----- user-facing functions (SciPy's names and signatures) -----
def _apply(prim, *args):
    special = _scipy_special()  # a clear error without SciPy, before any shape rule runs
    if find_trace(args) is None:
        return getattr(special, prim.impl.__name__)(*args)
    if 0 < sum(_is_weak(a) for a in args) < len(args):
        args = _as_scipy_promotes(prim, args)
    return apply(prim, *args)


def _is_weak(a) -> bool:
    return isinstance(a, (bool, int, float)) or isinstance(a, Tracer) and a.weak


def _probe(a):
    """A stand-in for ``a`` that SciPy's type resolution treats as ``a`` (weak stays weak)."""
    if isinstance(a, Tracer):
        return (
            {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}[a.dtype.kind]
            if a.weak
            else (np.ones((1,), a.dtype))
        )
    return a if _is_weak(a) else np.ones((1,), np.asarray(a).dtype)


def _as_scipy_promotes(prim, args):
    """Operands cast to the loop SciPy's ufunc picks for them. Unlike NumPy's own ufuncs, a
    SciPy ufunc whose first loop is float64 takes ``float32 op Python float`` in float64
    (``betaln``, ``xlogy``, ``xlog1py``; ``rel_entr`` stays float32): so does the trace."""
    probes = [_probe(a) for a in args]
    with np.errstate(all="ignore"):
        dtype = np.asarray(prim.impl(*probes)).dtype
    return tuple(
        astype(a, dtype) if isinstance(a, Tracer) else np.asarray(a, dtype=dtype) for a in args
    )


def expit(x):
    return _apply(expit_p, x)


def logit(x):
    return _apply(logit_p, x)


def erf(x):
    return _apply(erf_p, x)


def erfc(x):
    return _apply(erfc_p, x)


def erfinv(x):
    return _apply(erfinv_p, x)


def gammaln(x):
    return _apply(gammaln_p, x)


def digamma(x):
    return _apply(digamma_p, x)


psi = digamma  # scipy.special.psi is scipy.special.digamma


def polygamma(n, x):
    """``scipy.special.polygamma(n, x)``: the ``n``-th derivative of digamma; ``n`` a
    concrete non-negative integer (it is a parameter of the graph, not an operand)."""
    if isinstance(n, Tracer):
        n._trace.blamed.add(n.node)  # a captured n is frozen and the function traced again
        raise UnsupportedError(
            f"scipy.special.polygamma(n, x) with a traced order n is not supported "
            f"(at {user_location()}): n must be a concrete integer"
        )
    try:
        n = operator.index(n.item() if isinstance(n, np.ndarray) and n.ndim == 0 else n)
    except TypeError:
        raise TracegradError(
            f"polygamma: the order n must be one integer, got {n!r} (at {user_location()})"
        ) from None
    if n < 0:
        raise TracegradError(f"polygamma: the order n must be >= 0, got {n} (at {user_location()})")
    _scipy_special()
    if find_trace((x,)) is None:
        return _polygamma_impl(np.asarray(x), n)
    return bind(polygamma_p, x, n=n)


def betaln(a, b):
    return _apply(betaln_p, a, b)


def xlogy(x, y):
    return _apply(xlogy_p, x, y)


def xlog1py(x, y):
    return _apply(xlog1py_p, x, y)


def ndtr(x):
    return _apply(ndtr_p, x)


def log_ndtr(x):
    return _apply(log_ndtr_p, x)


def entr(x):
    return _apply(entr_p, x)


def rel_entr(x, y):
    return _apply(rel_entr_p, x, y)


def i0e(x):
    return _apply(i0e_p, x)


def i1e(x):
    return _apply(i1e_p, x)


# ----- local derivatives -----


def _betaln_partials(a, b):
    dab = digamma(add(a, b))
    return sub(digamma(a), dab), sub(digamma(b), dab)


def _safe(x, y, at, other):
    """``y``, with ``other`` where ``x == 0`` and ``y == at`` (there ``x / (y - at)`` is 0/0;
    the functions are 0 along ``x = 0``, so their d/dy is 0 there)."""
    return where(logical_and(equal(x, 0.0), equal(y, at)), other, y)


def _entr_derivative(x):
    # -(log x + 1) on x >= 0 (inf at 0); entr is the constant -inf for x < 0
    inside = greater_equal(x, 0.0)
    return where(inside, neg(add(log(where(inside, x, 1.0)), 1.0)), 0.0)


def _rel_entr_partials(x, y):
    # x log(x / y) on x > 0, y > 0; 0 along x = 0 (y >= 0) with d/dx = -inf; inf elsewhere
    inside = logical_and(greater(x, 0.0), greater(y, 0.0))
    xs, ys = where(inside, x, 1.0), where(inside, y, 1.0)
    zero = np.zeros((), dtype=xs.dtype)
    d0 = where(inside, add(sub(log(xs), log(ys)), 1.0), where(equal(x, 0.0), -np.inf, zero))
    return d0, where(inside, neg(div(xs, ys)), zero)


def _i1e_derivative(x, y):
    # i1e' = i0e - i1e (1/x + sign x); i1e(x)/x -> 1/2 at x = 0
    at_zero = equal(x, 0.0)
    ratio = where(at_zero, 0.5, div(y, where(at_zero, 1.0, x)))
    return sub(sub(i0e(x), mul(y, sign(x))), ratio)


# ----- how SciPy maps onto these functions: scipy.special ufuncs by ``__name__`` -----
SCIPY = {
    "expit": expit, "logit": logit, "erf": erf, "erfc": erfc, "erfinv": erfinv,
    "gammaln": gammaln, "psi": digamma, "betaln": betaln, "xlogy": xlogy, "xlog1py": xlog1py,
    "ndtr": ndtr, "log_ndtr": log_ndtr, "entr": entr, "rel_entr": rel_entr, "i0e": i0e,
    "i1e": i1e,
}  # fmt: skip
NUMPY: dict = {}
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = [
    "betaln", "digamma", "entr", "erf", "erfc", "erfinv", "expit", "gammaln", "i0e", "i1e",
    "log_ndtr", "logit", "ndtr", "polygamma", "psi", "rel_entr", "xlog1py", "xlogy",
]  # fmt: skip
