"""Traceable ``scipy.special``: ``logsumexp``, ``softmax``, ``log_softmax`` and ``polygamma``
(which SciPy writes in Python around ``np.asarray``), and the special-function ufuncs.

``scipy.special.gammaln(x)`` on a traced ``x`` traces by itself (SciPy's ufuncs reach
traced values through ``__array_ufunc__``); the same primitives are here under the same
names (``tracer.scipy.special.gammaln``), beside the functions that need a twin.
Signatures and numbers are SciPy's; float32 stays float32. Nothing here imports SciPy
until a special function is evaluated; ``logsumexp``, ``softmax`` and ``log_softmax``
need no SciPy at all.
"""

from __future__ import annotations

import numpy as np

from tracer import ops
from tracer.primitives.base import normalize_axes
from tracer.primitives.special import (
    betaln,
    digamma,
    entr,
    erf,
    erfc,
    erfinv,
    expit,
    gammaln,
    i0e,
    i1e,
    log_ndtr,
    logit,
    ndtr,
    polygamma,
    psi,
    rel_entr,
    xlog1py,
    xlogy,
)
from tracer.scipy._promote import as_float, ndim, shape

__all__ = [
    "betaln", "digamma", "entr", "erf", "erfc", "erfinv", "expit", "gammaln", "i0e", "i1e",
    "log_ndtr", "log_softmax", "logit", "logsumexp", "ndtr", "polygamma", "psi", "rel_entr",
    "softmax", "xlog1py", "xlogy",
]  # fmt: skip


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a), axis))`` without overflow, as ``scipy.special.logsumexp``.

    The largest entry is taken out before exponentiating; entries whose weight ``b``
    is 0 add nothing, even when infinite. A negative sum gives nan unless
    ``return_sign``, which returns ``(log|sum|, sign(sum))``. The gradient is
    ``b * exp(a - out)`` (a softmax).

    Args:
        a: the exponents.
        axis: an int, a tuple of ints or None (every axis).
        b: weights broadcasting against ``a`` (may be negative).
        keepdims: keep the reduced axes as size-1 axes.
        return_sign: also return the sign of the sum.

    Returns:
        The log of the sum (and its sign when ``return_sign``).
    """
    a, b = as_float(a, b) if b is not None else (as_float(a)[0], None)
    if ndim(a) == 0:  # as SciPy: a 0-d input reduces like a 1-element vector
        a = ops.reshape(a, (1,))
    if b is not None:
        a = ops.broadcast_to(a, _broadcast(a, b))
        b = ops.broadcast_to(b, shape(a))
        a = ops.where(ops.equal(b, 0.0), -float("inf"), a)
    axes = normalize_axes("logsumexp", axis, ndim(a))
    e = None
    if all(shape(a)[i] for i in axes):  # empty sums are 0: log gives -inf
        shift = ops.max(a, axis=axes, keepdims=True)
        shift = ops.where(ops.isfinite(shift), shift, 0.0)
        e = ops.exp(ops.sub(a, shift))
    else:
        shift, e = 0.0, ops.exp(a)
    if b is not None:
        e = ops.mul(b, e)
    s = ops.sum(e, axis=axes, keepdims=True)
    sign = None
    if return_sign:
        sign, s = ops.sign(s), ops.abs(s)
    out = ops.add(ops.log(s), shift)
    if not keepdims:
        out = ops.squeeze(out, axes)
        sign = None if sign is None else ops.squeeze(sign, axes)
    return (out, sign) if return_sign else out


def _broadcast(a, b):
    return tuple(np.broadcast_shapes(shape(a), shape(b)))


def softmax(x, axis=None):
    """``exp(x) / sum(exp(x), axis)``, shifted by the maximum, as ``scipy.special.softmax``."""
    (x,) = as_float(x)
    shifted = ops.exp(ops.sub(x, ops.max(x, axis=axis, keepdims=True)))
    return ops.div(shifted, ops.sum(shifted, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis)``, accurate where ``softmax`` underflows, as
    ``scipy.special.log_softmax``."""
    (x,) = as_float(x)
    shift = ops.max(x, axis=axis, keepdims=True)
    shifted = ops.sub(x, ops.where(ops.isfinite(shift), shift, 0.0))
    return ops.sub(shifted, ops.log(ops.sum(ops.exp(shifted), axis=axis, keepdims=True)))
