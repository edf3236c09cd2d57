"""The primitive set: one explicit table, built from the declaration modules in section order.

Each module declares its primitives (``PRIMITIVES``), the user-facing functions that
apply them (``__all__``), and how NumPy maps onto those functions: ``NUMPY`` (ufuncs and
functions), ``METHODS`` and ``ATTRIBUTES`` (of ndarrays). The tables here are their union.
"""

from __future__ import annotations

from tracer.errors import TracegradError
from tracer.primitives import (
    complex_parts,
    contractions,
    creation,
    decompositions,
    diagonals,
    elementwise,
    elementwise_math,
    indexing,
    inverses,
    linalg,
    markers,
    matrix_functions,
    norms,
    reductions,
    scans,
    shape_ops,
    shaping,
    sorting,
    special,
    statistics,
)
from tracer.primitives.base import Primitive

MODULES = (
    elementwise, complex_parts, elementwise_math, special, reductions, scans, sorting,
    statistics, shape_ops, shaping, indexing, creation, linalg, contractions, diagonals,
    inverses, decompositions, norms, matrix_functions, markers,
)  # fmt: skip

# Structural node kinds: not primitives (no impl), but valid ``op`` values.
STRUCTURAL_OPS = ("input", "const")

PRIMITIVES: dict[str, Primitive] = {p.name: p for m in MODULES for p in m.PRIMITIVES}
NUMPY: dict = {k: v for m in MODULES for k, v in m.NUMPY.items()}
METHODS: dict = {k: v for m in MODULES for k, v in m.METHODS.items()}
ATTRIBUTES: dict = {k: v for m in MODULES for k, v in m.ATTRIBUTES.items()}
# scipy.special's ufuncs, by ``__name__`` (recognised without importing SciPy)
SCIPY_SPECIAL: dict = dict(special.SCIPY)
# ndarray attributes that describe concrete memory: a clear error, not an AttributeError
CONCRETE_ATTRIBUTES = frozenset(
    {"strides", "ctypes", "data", "base", "flags", "itemsize", "nbytes", "flat", "tobytes",
     "tofile", "tostring", "dump", "dumps", "byteswap", "getfield", "setfield", "setflags"}
)  # fmt: skip
# ndarray methods that work in place (traced values are immutable), with what to write instead
INPLACE_METHODS = {
    "sort": "x = np.sort(x, axis)", "partition": "x = np.partition(x, kth, axis)",
    "fill": "x = np.full_like(x, value)", "put": "np.where(mask, values, x)",
    "resize": "x = np.reshape(x, shape) (np.pad or np.tile to grow it)",
}  # fmt: skip


def get_primitive(name: str) -> Primitive:
    """The primitive called ``name``, or a TracegradError listing the known ones."""
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise TracegradError(
            f"unknown primitive {name!r}; known: {', '.join(sorted(PRIMITIVES))}"
        ) from None


__all__ = [
    "ATTRIBUTES", "CONCRETE_ATTRIBUTES", "INPLACE_METHODS", "METHODS", "MODULES", "NUMPY",
    "PRIMITIVES", "SCIPY_SPECIAL", "STRUCTURAL_OPS", "Primitive", "get_primitive",
]  # fmt: skip
