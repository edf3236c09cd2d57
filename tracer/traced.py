"""``TracedArray``: a traced value that behaves like a NumPy array.

It overloads Python's operators and implements ``__array_ufunc__`` and
``__array_function__``, so unmodified NumPy code traces; its ndarray methods and
attributes (``x.sum()``, ``x.T``) are those the primitive modules declare in their
``METHODS`` and ``ATTRIBUTES`` tables. It has no numbers: converting one to a
Python bool/int/float raises ``TracingError`` at the user's line.
"""

from __future__ import annotations

import sys

import numpy as np

from tracer import numpy_api, ops
from tracer.conversions import conversion_message
from tracer.errors import TracingError
from tracer.frames import user_location
from tracer.primitives import ATTRIBUTES, CONCRETE_ATTRIBUTES, INPLACE_METHODS, METHODS
from tracer.staging import Tracer

# ndarray.__pow__ computes float ** 2, ** 0.5 and ** -1 with square, sqrt and reciprocal
# (they differ from np.power at -0.0 and -inf before NumPy 2.3)
_FAST_POWERS = {2: ops.square, 0.5: ops.sqrt, -1: ops.reciprocal}


class TracedArray(Tracer):
    """A value inside a trace: one node of the graph being built.

    It has a static ``shape`` and ``dtype`` and behaves like a NumPy array under
    operators, methods and NumPy functions. It has no numbers: converting it to a
    Python bool/int/float raises ``TracingError``.

    Example:
        >>> @trace                                   # doctest: +SKIP
        ... def f(x):
        ...     print(x)           # TracedArray(%0 x: float64[3])
        ...     return x.sum()
    """

    __slots__ = ()
    __array_priority__ = 1000

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d traced array)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def __getattr__(self, name: str):
        method = METHODS.get(name)
        if method is not None:
            return lambda *args, **kwargs: method(self, *args, **kwargs)
        attribute = ATTRIBUTES.get(name)
        if attribute is not None:
            return attribute(self)
        if name in CONCRETE_ATTRIBUTES:
            self._trace.blamed.add(self.node)
            raise TracingError(
                f"{self!r}.{name} has no meaning for a traced value (at {user_location()}): "
                f"it describes a concrete array's memory, which a traced value does not have"
            )
        if name in INPLACE_METHODS:
            self._trace.blamed.add(self.node)
            raise TracingError(
                f"{self!r}.{name}() works in place, but traced values are immutable (at "
                f"{user_location()}): write {INPLACE_METHODS[name]} instead"
            )
        raise AttributeError(f"'TracedArray' object has no attribute {name!r}")

    # ----- no concrete values at trace time -----
    def _concrete_error(self, what: str):
        self._trace.blamed.add(self.node)  # a captured value asked for concretely: see captures
        raise TracingError(
            f"{what} needs a concrete value, but {self!r} is traced "
            f"(at {user_location()}). Python control flow on traced values cannot be "
            "recorded in a graph: use np.where(cond, a, b) for data-dependent choices, "
            "or mark the argument static with @trace(static_argnums=...)."
        )

    def __bool__(self):
        self._concrete_error("bool() / if / while / and / or")

    def __float__(self):
        self._concrete_error("float()")

    def __int__(self):
        self._concrete_error("int()")

    def __index__(self):
        self._concrete_error("using a traced value as an index or size (__index__)")

    def __complex__(self):
        self._concrete_error("complex()")

    def __array__(self, dtype=None, copy=None):
        # np.array([a, b]), np.asarray(x), table[i], SciPy's Python functions: NumPy gives no
        # hook there; the stack says which it was and what traces instead
        self._trace.blamed.add(self.node)
        raise TracingError(conversion_message(self, sys._getframe(1)))

    def tolist(self):
        self._concrete_error("tolist()")

    def item(self, *args):
        self._concrete_error("item()")

    __hash__ = None  # like ndarray: traced values are not hashable

    def __setitem__(self, key, value):
        self._trace.blamed.add(self.node)
        raise TracingError(
            f"in-place assignment to a traced array ({self!r}[...] = ...) at {user_location()}: "
            "traced arrays are immutable. Build a new array instead, e.g. "
            "np.where(mask, new, x) or np.concatenate([...])."
        )

    # ----- operators (NumPy semantics) -----
    def __add__(self, o):
        return ops.add(self, o)

    def __radd__(self, o):
        return ops.add(o, self)

    def __sub__(self, o):
        return ops.sub(self, o)

    def __rsub__(self, o):
        return ops.sub(o, self)

    def __mul__(self, o):
        return ops.mul(self, o)

    def __rmul__(self, o):
        return ops.mul(o, self)

    def __truediv__(self, o):
        return ops.div(self, o)

    def __rtruediv__(self, o):
        return ops.div(o, self)

    def __pow__(self, o):
        if type(o) in (int, float) and self.dtype.kind in "fc":
            fast = _FAST_POWERS.get(o)
            if fast is not None:
                return fast(self)
        return ops.power(self, o)

    def __rpow__(self, o):
        return ops.power(o, self)

    # through NumPy's ufuncs (np.floor_divide, np.remainder, np.divmod), as ndarray does
    def __floordiv__(self, o):
        return np.floor_divide(self, o)

    def __rfloordiv__(self, o):
        return np.floor_divide(o, self)

    def __mod__(self, o):
        return np.remainder(self, o)

    def __rmod__(self, o):
        return np.remainder(o, self)

    def __divmod__(self, o):
        return np.divmod(self, o)

    def __rdivmod__(self, o):
        return np.divmod(o, self)

    def __matmul__(self, o):
        return ops.matmul(self, o)

    def __rmatmul__(self, o):
        return ops.matmul(o, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __lt__(self, o):
        return ops.less(self, o)

    def __le__(self, o):
        return ops.less_equal(self, o)

    def __gt__(self, o):
        return ops.greater(self, o)

    def __ge__(self, o):
        return ops.greater_equal(self, o)

    def __eq__(self, o):
        return ops.equal(self, o)

    def __ne__(self, o):
        return ops.not_equal(self, o)

    def __and__(self, o):
        return ops.bitwise_and(self, o)

    def __rand__(self, o):
        return ops.bitwise_and(o, self)

    def __or__(self, o):
        return ops.bitwise_or(self, o)

    def __ror__(self, o):
        return ops.bitwise_or(o, self)

    def __invert__(self):
        return ops.invert(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # ----- NumPy protocols -----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return numpy_api.dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return numpy_api.dispatch_function(func, args, kwargs)
