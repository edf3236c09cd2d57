"""The traceable NumPy-like functions, one namespace: what operators, methods, NumPy dispatch
and the compiler's derivative rules call. Each applies one primitive or is a small composite."""

from __future__ import annotations

from tracer.primitives.elementwise import (  # noqa: F401
    abs, add, astype, ceil, clip, cos, cosh, div, equal, exp, exp2, expm1, floor, greater,
    greater_equal, hypot, less, less_equal, log, log1p, log2, log10, logical_and, logical_not,
    logical_or, maximum, minimum, mul, neg, not_equal, positive, power, reciprocal, rint, round,
    sign, sin, sinh, sqrt, square, sub, tan, tanh, where,
)  # fmt: skip
from tracer.primitives.linalg import dot, matmul, outer  # noqa: F401
from tracer.primitives.reductions import (  # noqa: F401
    argmax, argmin, max, mean, min, std, sum, var,
)  # fmt: skip
from tracer.primitives.shape_ops import (  # noqa: F401
    atleast_1d, atleast_2d, broadcast_to, concatenate, expand_dims, flip, getitem, hstack,
    moveaxis, ravel, reshape, squeeze, stack, swapaxes, transpose, vstack,
)  # fmt: skip
