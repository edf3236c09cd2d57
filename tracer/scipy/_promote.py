"""Operands of ``tracer.scipy``'s functions in one floating dtype, as SciPy computes them.

NumPy's promotion with Python numbers weak (NEP 50), then at least float64 for
integers and booleans: ``norm.logpdf(x32)`` stays float32 (SciPy itself returns
float64 from ``scipy.stats``), ``norm.logpdf(3)`` is float64.
"""

from __future__ import annotations

import numpy as np

from tracer import ops
from tracer.primitives.elementwise import weak_repr
from tracer.staging import Tracer


def float_dtype(*args) -> np.dtype:
    """The common floating dtype of ``args`` (None entries are skipped)."""
    dtype = np.result_type(*[weak_repr(a) for a in args if a is not None])
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def as_float(*args) -> tuple:
    """``args`` cast to their common floating dtype (traced ones with ``astype``), none of
    them weak any more: a Python-number argument now computes in that dtype."""
    dtype = float_dtype(*args)
    return tuple(None if a is None else _cast(a, dtype) for a in args)


def _cast(a, dtype):
    if not isinstance(a, Tracer):
        return np.asarray(a, dtype)
    a = ops.astype(a, dtype)
    return type(a)(a._trace, a.node, a.shape, a.dtype, False) if a.weak else a


def shape(a) -> tuple:
    return tuple(a.shape) if isinstance(a, Tracer) else np.shape(a)


def ndim(a) -> int:
    return len(shape(a))
