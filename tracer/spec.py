"""``Spec``: the shape and dtype of an array, the one abstract value of the project.

A ``Spec`` stands in for an array that does not exist yet (``f.trace(Spec((3,)))``)
and is what shape/dtype rules compute with. The dtype helpers here are shared by
the graph, the tracer and the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracer.errors import TracegradError

# dtypes a graph may carry: everything NumPy computes with, never ``object``.
_ALLOWED_KINDS = frozenset("biufc")


def canonical_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype, rejecting object, string and structured dtypes."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError, OverflowError) as exc:  # np.dtype({"": ""})
        raise TracegradError(f"not a NumPy dtype: {dtype!r}") from exc
    if dt.kind not in _ALLOWED_KINDS or dt.fields is not None:
        raise TracegradError(
            f"dtype {dt} is not supported: tracegrad traces boolean, integer, "
            "floating and complex arrays"
        )
    return dt.newbyteorder("=") if dt.byteorder not in ("=", "|") else dt


_DTYPES: dict = {}
_DTYPE_NAMES: dict = {}


def as_dtype(name) -> np.dtype:
    """``np.dtype(name)``, cached (hot in graph transformations)."""
    dt = _DTYPES.get(name)
    if dt is None:
        dt = _DTYPES[name] = np.dtype(name)
    return dt


def dtype_name(dtype) -> str:
    """NumPy's name of ``dtype`` (cached: ``np.dtype(...).name`` is slow on hot paths)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = np.dtype(dtype).name
    return name


@dataclass(frozen=True)
class Spec:
    """Shape and dtype of an array: ``Spec((32, 4), "float64")``.

    Pass a ``Spec`` to ``f.trace(...)`` in place of an array to trace a function
    for inputs that do not exist yet. It is also the abstract value shape rules
    compute with.

    Args:
        shape: the array's shape (a tuple of non-negative ints; ``()`` for a scalar).
        dtype: a NumPy dtype or its name; object, string and structured dtypes
            are refused.

    Example:
        >>> import numpy as np
        >>> from tracer import Spec, trace
        >>> g = trace(lambda x: np.sum(x ** 2)).trace(Spec((32, 4), "float32"))
        >>> g.nodes[g.inputs[0]]["shape"], g.nodes[g.inputs[0]]["dtype"]
        ((32, 4), 'float32')
    """

    shape: tuple[int, ...]
    dtype: np.dtype = np.dtype("float64")

    def __init__(self, shape=(), dtype="float64"):
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        try:
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError) as exc:
            raise TracegradError(f"Spec shape must be a tuple of ints, got {shape!r}") from exc
        if any(d < 0 for d in shape):
            raise TracegradError(f"Spec shape has a negative dimension: {shape}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", canonical_dtype(dtype))

    @classmethod
    def of(cls, shape, dtype) -> Spec:
        """A ``Spec`` from a shape and dtype already checked (the tracer's hot path)."""
        self = object.__new__(cls)
        d = self.__dict__  # past the frozen __setattr__: one dict write each (hot in bind)
        d["shape"] = shape if type(shape) is tuple else tuple(shape)
        d["dtype"] = dtype if isinstance(dtype, np.dtype) else as_dtype(dtype)
        return self

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        return format_aval(self.shape, self.dtype)

    def __repr__(self) -> str:
        return f"Spec({self.shape}, {self.dtype.name!r})"


def is_duck_array(x) -> bool:
    """True for an array of another library (a Dask, CuPy or array-API array: its type has
    ``__array_function__`` or ``__array_namespace__``, ``shape`` and ``dtype``), never a
    NumPy one. Nothing is imported to tell."""
    t = type(x)
    return (
        not isinstance(x, (np.ndarray, np.generic))
        and (hasattr(t, "__array_function__") or hasattr(t, "__array_namespace__"))
        and hasattr(t, "shape")
        and hasattr(t, "dtype")
    )


def duck_dtype(dtype) -> np.dtype:
    """The NumPy dtype of another library's dtype: itself for Dask and CuPy (NumPy dtypes),
    by name for an array-API library's own dtype objects (``array_api_strict.float32``)."""
    try:
        return canonical_dtype(dtype)
    except TracegradError:
        name = str(dtype).rsplit(".", 1)[-1]
        if not name.isidentifier():
            raise
        return canonical_dtype(name)


def duck_name(x) -> str:
    """The type's full name: ``dask.array.core.Array`` for a Dask array."""
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ else t.__qualname__


def format_aval(shape, dtype) -> str:
    """``float64[3,4]`` (``float64[]`` for a 0-d array)."""
    return f"{np.dtype(dtype).name}[{','.join(str(d) for d in shape)}]"
