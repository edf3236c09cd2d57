"""Custom-derivative functions shared by the tests: each rule is exact, so central
differences, the other mode and a loop of unbatched calls all agree with it."""

from __future__ import annotations

import numpy as np

from compiler import custom_jvp, custom_vjp


@custom_jvp
def log1pexp(x):
    """log(1 + e^x) with a rule that stays finite where exp overflows (grad at 1000 is 1)."""
    return np.log1p(np.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1.0 - 1.0 / (1.0 + np.exp(x)))  # finite where exp overflows


@custom_vjp
def sin_times(x, y):
    """sin(x) * y, its vjp reading residuals saved by fwd."""
    return np.sin(x) * y


def _sin_times_fwd(x, y):
    return np.sin(x) * y, (np.cos(x), np.sin(x), y)


def _sin_times_bwd(res, g):
    cos_x, sin_x, y = res
    return g * cos_x * y, g * sin_x


sin_times.defvjp(_sin_times_fwd, _sin_times_bwd)


@custom_jvp
def softplus(x):
    """log(1 + e^x) with the jvp t * sigmoid(x)."""
    return np.log1p(np.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t / (1.0 + np.exp(-x))
