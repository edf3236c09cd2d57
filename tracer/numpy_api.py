"""NumPy dispatch: ``__array_ufunc__`` and ``__array_function__`` of traced values land here.

The tables are the primitive modules' ``NUMPY`` declarations (``tracer.primitives``),
split into ufuncs and functions, and ``SCIPY_SPECIAL``: ``scipy.special``'s ufuncs by
name, recognised as the ufunc of that name in an already imported ``scipy.special``
(this module never imports SciPy). Anything not in them raises ``UnsupportedError``
naming the function (``np.gcd``, ``scipy.special.gamma``).
"""

from __future__ import annotations

import sys

import numpy as np

from tracer.errors import UnsupportedError
from tracer.frames import user_location
from tracer.primitives import NUMPY, SCIPY_SPECIAL
from tracer.staging import Tracer

UFUNCS = {k: v for k, v in NUMPY.items() if isinstance(k, np.ufunc)}
FUNCTIONS = {k: v for k, v in NUMPY.items() if not isinstance(k, np.ufunc)}

# ufunc keywords that are harmless at their default values
_DEFAULTS = {"casting": "same_kind", "order": "K", "subok": True, "dtype": None, "signature": None}


def _qualname(func) -> str:
    module = getattr(func, "__module__", None) or "numpy"
    module = "np" if module in ("numpy", "numpy.core", "numpy._core") else module
    return f"{module}.{getattr(func, '__name__', repr(func))}"


def _strong(out):
    """NumPy calls return NumPy arrays, never Python numbers: their results are not weak.

    ``s * 2`` on a Python-number argument ``s`` stays weak (Python would give a
    float), but ``np.exp(s)`` is a ``np.float64``, which promotes strongly.
    """
    if isinstance(out, tuple):  # np.divmod; np.linalg's results keep their field names
        items = [_strong(o) for o in out]
        return tuple(items) if type(out) is tuple else type(out)(*items)
    if isinstance(out, Tracer) and out.weak:
        return type(out)(out._trace, out.node, out.shape, out.dtype, False)
    return out


def _blame(args) -> None:
    """Mark traced operands of a call that cannot be traced: a captured value among them
    is then frozen and the function traced again (see ``tracer.captures``)."""
    for a in args:
        if isinstance(a, Tracer):
            a._trace.blamed.add(a.node)
        elif isinstance(a, (tuple, list)):
            _blame(a)


def dispatch_ufunc(ufunc, method, inputs, kwargs):
    """Run NumPy ufunc ``ufunc`` on traced ``inputs`` through its tracegrad function."""
    try:
        return _dispatch_ufunc(ufunc, method, inputs, kwargs)
    except UnsupportedError:
        _blame(inputs)
        raise


def _scipy_ufunc(ufunc) -> bool:
    """True when ``ufunc`` is one of ``scipy.special``'s (SciPy is loaded if it is)."""
    special = sys.modules.get("scipy.special")
    return special is not None and getattr(special, ufunc.__name__, None) is ufunc


def _dispatch_ufunc(ufunc, method, inputs, kwargs):
    scipy = getattr(np, ufunc.__name__, None) is not ufunc and _scipy_ufunc(ufunc)
    name = f"scipy.special.{ufunc.__name__}" if scipy else f"np.{ufunc.__name__}"
    if method != "__call__":
        raise UnsupportedError(
            f"{name}.{method} is not supported on traced arrays (at {user_location()}); "
            f"only plain calls {name}(...) trace"
        )
    if kwargs.get("out") is not None:
        raise UnsupportedError(
            f"{name}(..., out=...) is not supported (at {user_location()}): traced arrays are "
            f"immutable; write y = {name}(...) instead (this also catches `a += traced` on a "
            "NumPy array a)"
        )
    if "where" in kwargs and kwargs["where"] is not True:
        raise UnsupportedError(
            f"{name}(..., where=...) is not supported (at {user_location()}); "
            "use np.where(mask, a, b) instead"
        )
    for key, value in kwargs.items():
        if key not in ("out", "where") and _DEFAULTS.get(key, object()) != value:
            raise UnsupportedError(f"{name}(..., {key}={value!r}) is not supported when tracing")
    fn = SCIPY_SPECIAL.get(ufunc.__name__) if scipy else UFUNCS.get(ufunc)
    if fn is None:
        known = (
            sorted(f"scipy.special.{u}" for u in SCIPY_SPECIAL)
            if scipy
            else sorted(f"np.{u.__name__}" for u in UFUNCS)
        )
        raise UnsupportedError(
            f"{name} has no tracegrad primitive (at {user_location()}); supported "
            f"{'scipy.special ' if scipy else ''}ufuncs: " + ", ".join(known)
        )
    return _strong(fn(*inputs))


def dispatch_function(func, args, kwargs):
    """Run NumPy function ``func`` on traced arguments through its tracegrad function."""
    fn = FUNCTIONS.get(func)
    if fn is None:
        _blame(args)
        _blame(kwargs.values())
        raise UnsupportedError(
            f"{_qualname(func)} has no tracegrad primitive (at {user_location()}); supported "
            "functions: " + ", ".join(sorted(_qualname(f) for f in FUNCTIONS))
        )
    return _strong(fn(*args, **kwargs))
