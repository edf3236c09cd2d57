"""Every primitive, traced from plain NumPy code, equals NumPy: shapes, dtypes, broadcasting, 0-d.

The cases are one table of ``Case(op, fn, args)``: ``fn`` is ordinary NumPy code,
traced as is and also run on the plain arrays; the traced graph must contain a
node of ``op``, validate, and give NumPy's numbers, shape and dtype.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tracer_testing import assert_same, check_traced, make_array, ops_of

from tracer import PRIMITIVES, TracegradError, ops, trace
from tracer.custom import custom_jvp, custom_vjp
from tracer.primitives import special
from tracer.scipy import special as traced_special

try:
    import scipy.special as sc
except ImportError:  # SciPy is optional
    sc = None


@dataclass(frozen=True)
class Case:
    op: str  # the primitive this case must exercise
    fn: Any  # plain NumPy code
    args: tuple  # concrete arguments
    label: str = ""

    @property
    def id(self) -> str:
        avals = ",".join(
            f"{np.asarray(a).dtype.name}{list(np.shape(a))}" if not isinstance(a, list) else "list"
            for a in self.args
        )
        return f"{self.op}-{self.label}-{avals}"


CASES: list[Case] = []


def case(op, fn, *args, label=""):
    CASES.append(Case(op, fn, args, label))


A = make_array

# ----- unary elementwise -----
# (op, ufunc, (low, high) domain, dtypes)
UNARY = [
    ("neg", np.negative, (-2, 2), ("float64", "float32", "int64", "int32")),
    ("exp", np.exp, (-2, 2), ("float64", "float32", "int64")),
    ("log", np.log, (0.1, 3), ("float64", "float32")),
    ("log", np.log, (1, 5), ("int64",)),
    ("sin", np.sin, (-3, 3), ("float64", "float32", "int32")),
    ("cos", np.cos, (-3, 3), ("float64", "float32")),
    ("tan", np.tan, (-1, 1), ("float64", "float32")),
    ("tanh", np.tanh, (-3, 3), ("float64", "float32", "int64")),
    ("arctan", np.arctan, (-5, 5), ("float64", "float32", "int64")),
    ("sqrt", np.sqrt, (0, 4), ("float64", "float32", "int64")),
    ("abs", np.abs, (-2, 2), ("float64", "float32", "int64", "int8")),
    ("sign", np.sign, (-2, 2), ("float64", "int64")),
    ("square", np.square, (-2, 2), ("float64", "float32", "int64")),
    ("reciprocal", np.reciprocal, (0.5, 2), ("float64", "float32")),
    ("reciprocal", np.reciprocal, (1, 3), ("int64",)),
    ("log1p", np.log1p, (-0.5, 2), ("float64", "float32")),
    ("expm1", np.expm1, (-2, 2), ("float64", "float32")),
    ("floor", np.floor, (-3, 3), ("float64", "float32", "int64")),
    ("ceil", np.ceil, (-3, 3), ("float64", "float32", "int64")),
    ("round", np.round, (-3, 3), ("float64", "float32", "int64")),
    ("round", np.rint, (-3, 3), ("float64",)),
    ("logical_not", np.logical_not, (-1, 1), ("bool", "float64", "int64")),
]
UNARY_SHAPES = [(), (5,), (2, 3), (2, 0)]

for op, ufunc, (lo, hi), dtypes in UNARY:
    for dt in dtypes:
        for shape in UNARY_SHAPES:
            case(op, ufunc, A(shape, dt, low=lo, high=hi), label=ufunc.__name__)

case("neg", lambda x: -x, A((3,), "float64"), label="operator")
case("abs", lambda x: abs(x), A((3,), "float64"), label="builtin")
case("abs", np.fabs, A((3,), "float32"), label="fabs")
case("round", lambda x: np.round(x, 2), A((4,), "float64", high=10), label="decimals")
case("round", lambda x: np.around(x, -1), A((4,), "float64", high=100), label="around")
case("round", lambda x: x.round(1).copy(), A((4,), "float64", high=10), label="method")
case("logical_not", lambda x: ~x, A((2, 3), "bool"), label="invert")

# ----- binary elementwise -----
# (op, ufunc, operator or None, domain, include bools)
BINARY = [
    ("add", np.add, operator.add, (-2, 2)),
    ("sub", np.subtract, operator.sub, (-2, 2)),
    ("mul", np.multiply, operator.mul, (-2, 2)),
    ("div", np.true_divide, operator.truediv, (0.5, 3)),
    ("pow", np.power, operator.pow, (0.5, 2)),
    ("maximum", np.maximum, None, (-2, 2)),
    ("minimum", np.minimum, None, (-2, 2)),
    ("less", np.less, operator.lt, (-2, 2)),
    ("less_equal", np.less_equal, operator.le, (-2, 2)),
    ("greater", np.greater, operator.gt, (-2, 2)),
    ("greater_equal", np.greater_equal, operator.ge, (-2, 2)),
    ("equal", np.equal, operator.eq, (-2, 2)),
    ("not_equal", np.not_equal, operator.ne, (-2, 2)),
    ("logical_and", np.logical_and, None, (-1, 1)),
    ("logical_or", np.logical_or, None, (-1, 1)),
]
BROADCAST_SHAPES = [
    ((), ()),
    ((3,), ()),
    ((), (3,)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((4, 1, 3), (2, 1)),
    ((2, 0), (1,)),
]
DTYPE_PAIRS = [
    ("float64", "float64"),
    ("float32", "float32"),
    ("float32", "float64"),
    ("int64", "float32"),
    ("int32", "int64"),
    ("int8", "int8"),
    ("int64", "int64"),
    ("bool", "float32"),
]

for op, ufunc, pyop, (lo, hi) in BINARY:
    for sa, sb in BROADCAST_SHAPES:
        x, y = A(sa, "float64", low=lo, high=hi, seed=1), A(sb, "float64", low=lo, high=hi, seed=2)
        case(op, ufunc, x, y, label=ufunc.__name__)
    for da, db in DTYPE_PAIRS:
        if op == "sub" and da == db == "bool":
            continue
        lo_, hi_ = (1, 3) if op in ("div", "pow") else (lo, hi)
        x, y = A((2, 3), da, low=lo_, high=hi_, seed=3), A((3,), db, low=lo_, high=hi_, seed=4)
        case(op, ufunc, x, y, label=ufunc.__name__)
    if pyop is not None:
        x, y = A((2, 3), "float64", low=lo, high=hi, seed=5), A((3,), "float64", low=lo, high=hi)
        case(op, pyop, x, y, label="operator")
        case(op, pyop, x, 1.5, label="operator-pyscalar")
        case(op, pyop, 2, y, label="operator-rpyscalar")

for op, pyop in (("logical_and", operator.and_), ("logical_or", operator.or_)):
    case(op, pyop, A((2, 3), "bool", seed=1), A((3,), "bool", seed=2), label="operator")
    case(op, pyop, A((3,), "bool", seed=1), True, label="operator-pyscalar")
    case(op, pyop, False, A((3,), "bool", seed=1), label="operator-rpyscalar")

case("matmul", operator.matmul, A((2, 3), "float64"), A((3, 4), "float64"), label="operator")
case("pow", lambda x: 2.0**x, A((3,), "float32"), label="rpow")

# ----- where, clip, astype -----
case("where", np.where, A((2, 3), "bool"), A((2, 3), "float64"), A((2, 3), "float64", seed=1))
case("where", np.where, A((3,), "bool"), A((2, 1), "float32"), A((), "float64"))
case("where", np.where, A((), "bool"), A((2, 3), "int64"), A((3,), "int32"))
case("where", np.where, A((2, 3), "bool"), A((2, 3), "float32"), 0.0, label="pyscalar")
case("where", lambda c, x: np.where(c > 0, x, -x), A((4,), "float64"), A((4,), "float64", seed=1))
case("where", np.where, A((4,), "float64"), 1.0, 2.0, label="nonbool-cond")
case("clip", lambda x: np.clip(x, -1.0, 0.5), A((3, 4), "float64"))
case("minimum", np.clip, A((3, 4), "float64"), -1.0, 0.5, label="traced-bounds")
case("maximum", np.clip, A((3, 4), "float64"), A((4,), "float64", high=0), 1.0, label="array-lo")
case("clip", lambda x: x.clip(0, None), A((3, 4), "float32"), label="method-lo")
case("clip", lambda x: np.clip(x, None, 1), A((5,), "int64", low=-3, high=3), label="hi")
case("clip", lambda x: np.clip(x, -1, 1), A((), "float64"), label="0d")
for src, dst in [
    ("float64", "float32"),
    ("float64", "int32"),
    ("int64", "float64"),
    ("float64", "bool"),
    ("bool", "float32"),
    ("int8", "int64"),
]:
    for shape in [(), (2, 3)]:
        case("astype", lambda x, dst=dst: x.astype(dst), A(shape, src), label=dst)

# ----- reductions -----
RED_SHAPES_AXES = [
    ((), None),
    ((4,), None),
    ((4,), 0),
    ((2, 3, 4), None),
    ((2, 3, 4), 1),
    ((2, 3, 4), -1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), (-1, 0)),
]
for name, fn in (("sum", np.sum), ("max", np.max), ("min", np.min)):
    for shape, axis in RED_SHAPES_AXES:
        for keepdims in (False, True):
            for dt in ("float64", "float32", "int32", "bool"):
                f = lambda x, fn=fn, axis=axis, keepdims=keepdims: fn(
                    x, axis=axis, keepdims=keepdims
                )
                case(name, f, A(shape, dt), label=f"axis={axis},keepdims={keepdims}")
case("sum", lambda x: x.sum(), A((3, 2), "float64"), label="method")
case("sum", lambda x: x.sum(axis=0, dtype=np.float32), A((3, 2), "int64"), label="dtype")
case("sum", lambda x: x.sum(dtype=np.int32), A((3, 2), "float64", high=9), label="dtype-int32")
case("sum", lambda x: np.sum(x, dtype=np.uint8), A((3, 2), "bool"), label="dtype-uint8")
case("sum", lambda x: x.sum(dtype=np.int16), A((3, 2), "int16"), label="dtype-same")
case("max", lambda x: x.max(axis=1), A((3, 2), "float64"), label="method")
case("min", lambda x: x.min(keepdims=True), A((3, 2), "float64"), label="method")
case("max", np.amax, A((3, 2), "float64"), label="amax")
case("sum", np.sum, A((0, 3), "float64"), label="empty")
for name, fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    for shape, axis in [((), None), ((5,), None), ((5,), 0), ((2, 3, 4), None), ((2, 3, 4), 1),
                        ((2, 3, 4), -1)]:  # fmt: skip
        for keepdims in (False, True):
            for dt in ("float64", "int64"):
                f = lambda x, fn=fn, axis=axis, keepdims=keepdims: fn(
                    x, axis=axis, keepdims=keepdims
                )
                case(name, f, A(shape, dt, low=-50, high=50), label=f"axis={axis},{keepdims}")
case("argmax", lambda x: x.argmax(axis=0), A((4, 3), "float64"), label="method")
case("argmin", lambda x: x.argmin(), A((4, 3), "float64"), label="method")

# ----- shape ops -----
x23 = A((2, 3), "float64")
x234 = A((2, 3, 4), "float32")
case("reshape", lambda x: x.reshape(3, 2), x23, label="method-varargs")
case("reshape", lambda x: x.reshape((3, 2)), x23, label="method-tuple")
case("reshape", lambda x: np.reshape(x, (-1, 4)), x234, label="minus-one")
case("reshape", lambda x: np.reshape(x, -1), x234, label="flat")
case("reshape", lambda x: x.reshape(1, 1), A((), "float64"), label="0d")
case("reshape", lambda x: x.reshape(()), A((1, 1), "int32"), label="to-0d")
case("reshape", lambda x: x.ravel(), x234, label="ravel")
case("transpose", lambda x: x.T, x23, label="T")
case("transpose", lambda x: x.T, x234, label="T3")
case("transpose", lambda x: np.transpose(x, (1, 0, 2)), x234, label="axes")
case("transpose", lambda x: x.transpose(2, 0, 1), x234, label="method-varargs")
case("transpose", lambda x: x.transpose((0, 2, 1)), x234, label="method-tuple")
case("transpose", lambda x: x.transpose(), x23, label="method")
case("transpose", lambda x: np.transpose(x, (-1, 0, 1)), x234, label="negative-axes")
case("transpose", lambda x: np.swapaxes(x, 0, 2), x234, label="swapaxes")
case("transpose", lambda x: np.moveaxis(x, 0, -1), x234, label="moveaxis")
case("broadcast_to", lambda x: np.broadcast_to(x, (4, 2, 3)), x23)
case("broadcast_to", lambda x: np.broadcast_to(x, (2, 3)), A((), "int64"), label="0d")
case("broadcast_to", lambda x: np.broadcast_to(x, (3, 5)), A((3, 1), "float32"), label="stretch")
x1 = A((1, 3, 1), "float64")
case("squeeze", np.squeeze, x1)
case("squeeze", lambda x: x.squeeze(0), x1, label="method")
case("squeeze", lambda x: np.squeeze(x, axis=(0, -1)), x1, label="axes")
case("squeeze", np.squeeze, A((1, 1), "int64"), label="to-0d")
case("expand_dims", lambda x: np.expand_dims(x, 0), x23)
case("expand_dims", lambda x: np.expand_dims(x, -1), x23, label="last")
case("expand_dims", lambda x: np.expand_dims(x, (0, 2)), x23, label="axes")
case("expand_dims", lambda x: np.expand_dims(x, 0), A((), "float64"), label="0d")
for axis in (0, 1, -1):
    case(
        "concatenate",
        lambda x, y, axis=axis: np.concatenate([x, y, x], axis=axis),
        A((2, 3), "float64"),
        A((2, 3), "float64", seed=1),
        label=f"axis={axis}",
    )
case("concatenate", lambda x, y: np.concatenate((x, y)), A((2, 3), "float32"), A((1, 3), "int64"))
case("concatenate", lambda x, y: np.concatenate([x, y], axis=None), x23, A((4,), "float64"))
case("concatenate", lambda x, y: np.concatenate([x, y]), A((2,), "float64"), np.arange(3.0))
case("concatenate", lambda x, y: np.hstack([x, y]), A((2,), "float64"), A((3,), "float64"))
case("concatenate", lambda x, y: np.vstack([x, y]), A((3,), "float64"), A((2, 3), "float64"))
for axis in (0, 1, 2, -1):
    case(
        "stack",
        lambda x, y, axis=axis: np.stack([x, y], axis=axis),
        A((2, 3), "float64"),
        A((2, 3), "float32", seed=1),
        label=f"axis={axis}",
    )
case("stack", lambda x, y: np.stack((x, y)), A((), "float64"), A((), "float64", seed=1), label="0d")
case("matmul", np.matmul, A((3,), "float64"), A((3,), "float64", seed=1), label="vec-vec")
case("matmul", np.matmul, A((2, 3), "float64"), A((3,), "float64", seed=1), label="mat-vec")
case("matmul", np.matmul, A((3,), "float64"), A((3, 4), "float64", seed=1), label="vec-mat")
case("matmul", np.matmul, A((2, 3), "float32"), A((3, 4), "float32", seed=1))
case("matmul", np.matmul, A((5, 2, 3), "float64"), A((3, 4), "float64", seed=1), label="batch")
case("matmul", np.matmul, A((5, 1, 2, 3), "float64"), A((4, 3, 2), "float64"), label="bcast")
case("matmul", np.matmul, A((2, 3), "int64"), A((3, 2), "int32", seed=1), label="int")
case("matmul", np.matmul, A((2, 3), "float32"), A((3, 2), "float64", seed=1), label="mixed")
case("matmul", lambda x, y: x.dot(y), A((2, 3), "float64"), A((3, 2), "float64"), label="dot")
case("matmul", np.dot, A((2, 3, 4), "float64"), A((4, 5), "float64", seed=1), label="dot-nd")
case("matmul", np.dot, A((2, 3, 4), "float64"), A((6, 4, 5), "float64"), label="dot-nd-nd")
case("matmul", np.dot, A((2, 3), "float64"), A((4, 3, 5), "float64"), label="dot-2d-3d")
case("matmul", np.dot, A((2, 3, 4), "float64"), A((4,), "float64", seed=1), label="dot-nd-1d")
case("mul", np.dot, A((), "float64"), A((2, 3), "float64", seed=1), label="dot-0d")
case("mul", np.outer, A((3,), "float64"), A((4,), "float64", seed=1), label="outer")

# ----- einsum and np.linalg (tests/tracer/test_linalg.py has every spelling and keyword) -----


def _spd(shape, dtype, seed=0):
    """Symmetric positive definite matrices, well conditioned, eigenvalues apart."""
    a = make_array(shape, "float64", seed=seed)
    n = shape[-1]
    return (a @ np.swapaxes(a, -1, -2) + np.diag(np.arange(1.0, n + 1) * n)).astype(dtype)


case("einsum", lambda x, y: np.einsum("ij,jk->ik", x, y), A((2, 3), "float64"),
     A((3, 4), "float64", seed=1))  # fmt: skip
case("einsum", lambda x: np.einsum("...ii->...i", x), A((2, 3, 3), "float32"), label="diag")
case("einsum", lambda x, y: np.einsum("i,i", x, y), A((3,), "int64"), A((3,), "int32"))
for dt in ("float64", "float32"):
    case("inv", np.linalg.inv, _spd((2, 3, 3), dt))
    case("solve", np.linalg.solve, _spd((3, 3), dt), A((3, 2), dt))
    case("solve", np.linalg.solve, _spd((2, 3, 3), dt), A((3,), dt), label="vector")
    case("det", np.linalg.det, A((2, 3, 3), dt))
    case("slogdet_sign", lambda x: np.linalg.slogdet(x)[0], A((2, 3, 3), dt))
    case("slogdet_logabsdet", lambda x: np.linalg.slogdet(x).logabsdet, A((3, 3), dt))
    case("pinv", np.linalg.pinv, A((2, 3, 4), dt))
    case("cholesky", np.linalg.cholesky, _spd((2, 3, 3), dt))
    case("eigh_values", lambda x: np.linalg.eigh(x)[0], _spd((2, 3, 3), dt))
    case("eigh_vectors", lambda x: np.linalg.eigh(x).eigenvectors, _spd((3, 3), dt))
    case("svd_s", lambda x: np.linalg.svd(x, compute_uv=False), A((2, 4, 3), dt))
    case("svd_u", lambda x: np.linalg.svd(x)[0], A((3, 4), dt))
    case("svd_vh", lambda x: np.linalg.svd(x, full_matrices=False).Vh, A((2, 4, 3), dt))
    case("qr_q", lambda x: np.linalg.qr(x)[0], A((2, 4, 3), dt))
    case("qr_r", lambda x: np.linalg.qr(x, mode="complete").R, A((3, 4), dt))
case("inv", np.linalg.inv, np.array([[2, 1], [1, 3]]), label="int")
case("det", np.linalg.det, A((3, 3), "int64", low=-3, high=3), label="int")

# ----- getitem: basic slicing, integer arrays, masks -----
X = np.arange(120.0).reshape(4, 5, 6)
GETITEM = {
    "int": lambda x: x[0],
    "negative-int": lambda x: x[-1],
    "int-tuple": lambda x: x[1, -2, 3],
    "slice": lambda x: x[1:3],
    "slice-step": lambda x: x[::2],
    "slice-reverse": lambda x: x[::-1],
    "slice-neg-step": lambda x: x[3:0:-2],
    "slice-neg-stop": lambda x: x[2::-1],
    "slice-neg-bounds": lambda x: x[-1:-5:-1],
    "slice-neg-step-start-before-0": lambda x: x[-10::-1],
    "slice-neg-step-start-clamped": lambda x: x[-10:2:-1],
    "slice-neg-step-far-stop": lambda x: x[:, 10:-10:-2],
    "slice-empty": lambda x: x[3:1],
    "slice-past-end": lambda x: x[2:100],
    "slices": lambda x: x[1:, :-1, ::3],
    "none": lambda x: x[None],
    "none-mid": lambda x: x[:, None, 1],
    "ellipsis": lambda x: x[..., 0],
    "ellipsis-mid": lambda x: x[1, ..., 2],
    "ellipsis-none": lambda x: x[..., None],
    "ellipsis-empty-between-arrays": lambda x: x[None, 0, 1, ..., [0, 0]],
    "ellipsis-empty-after-arrays": lambda x: x[[0, 1], 0, ..., 2],
    "int-array": lambda x: x[np.array([0, 2, 2])],
    "int-array-negative": lambda x: x[np.array([-1, 0])],
    "int-array-2d": lambda x: x[np.array([[0, 1], [3, 3]])],
    "list": lambda x: x[[3, 0, 3]],
    "two-arrays": lambda x: x[[0, 1], [4, 4]],
    "arrays-split": lambda x: x[[0, 3], :, [5, 0]],
    "array-after-slice": lambda x: x[1:3, [0, 0, 4]],
    "array-slice-step": lambda x: x[1:3, ::-2, [0, -1]],
    "bool-mask": lambda x: x[np.array([True, False, True, True])],
    "bool-mask-full": lambda x: x[X > 100],
    "bool-mask-axis1": lambda x: x[:, np.array([False, True, False, True, True])],
}
for label, fn in GETITEM.items():
    case("getitem", fn, X, label=label)
case("getitem", lambda x: x[()], A((), "float64"), label="0d-empty-tuple")
case("getitem", lambda x: x[...], A((), "float64"), label="0d-ellipsis")
case("getitem", lambda x: x[None], A((), "int64"), label="0d-none")
case("getitem", lambda x, i: x[i], X, np.array([3, 1, 1]), label="traced-int-array")
case("getitem", lambda x, i: x[:, i, 0], X, np.array([[4], [0]]), label="traced-int-array-2d")
case("getitem", lambda x: x[np.int64(2), np.int32(-1)], X, label="numpy-ints")
case("getitem", lambda x: np.take(x, [3, 0, 3]), X, label="take-flat")
case("getitem", lambda x: np.take(x, np.array([[1], [4]]), axis=1), X, label="take-axis")
case("getitem", lambda x: np.take(x, -1, axis=-1), X, label="take-int")
# A NumPy array indexed by a traced index: ndarray.__getitem__ and np.take's dispatcher never
# see the index, so the traceable spelling is ops.getitem (see test_numpy_api.py).

# ----- identities that steer differentiation (tracer.primitives.markers) -----


@custom_vjp
def _scaled(x, y):
    return x * 2.0, np.sin(y)


@custom_jvp
def _softplus(x):
    return np.log1p(np.exp(x))


for dt in ("float64", "float32", "int64"):
    for shape in [(), (3,), (2, 3)]:
        case("stop_gradient", lambda x: ops.stop_gradient(x) * 2, A(shape, dt), label=dt)
        case("after", lambda x, t: ops.after(x, t) + 1, A(shape, dt), A((2,), "float64"))
        case("custom_jvp_call", _softplus, A(shape, dt), label=dt)
    case("custom_vjp_call", _scaled, A((3,), dt), A((2, 3), "float64"), label=dt)
case("stop_gradient", lambda x: ops.stop_gradient({"a": x, "b": (x, x * 2)})["b"][1],
     A((2,), "float64"), label="pytree")  # fmt: skip
case("custom_vjp_call", lambda x: _scaled(x, 1.5)[0], A((2, 2), "float32"), label="const-arg")


# ----- complex numbers: their parts, and the other ops on complex operands -----
def C(shape, dtype, *, low=-2.0, high=2.0, seed=0) -> np.ndarray:
    """A deterministic complex array (``dtype`` complex64 or complex128)."""
    part = "float32" if dtype == "complex64" else "float64"
    re = A(shape, part, low=low, high=high, seed=seed)
    return (re + 1j * A(shape, part, low=low, high=high, seed=seed + 1)).astype(dtype)


COMPLEX_PARTS = [("real", np.real), ("imag", np.imag), ("conj", np.conjugate), ("angle", np.angle),
                 ("abs", np.abs), ("sign", np.sign)]  # fmt: skip
for op, fn in COMPLEX_PARTS:
    for dt in ("complex128", "complex64"):
        for shape in UNARY_SHAPES:
            case(op, fn, C(shape, dt), label=f"{fn.__name__}-complex")
case("real", lambda z: z.real, C((3,), "complex128"), label="attribute")
case("imag", lambda z: z.imag * 2, C((3,), "complex64"), label="attribute")
case("conj", lambda z: z.conj() + z.conjugate() + np.conj(z), C((2, 3), "complex128"),
     label="methods")  # fmt: skip
case("angle", lambda z: np.angle(z, deg=True), C((3,), "complex64"), label="deg")
for dt in ("float64", "float32", "int64", "bool"):
    case("angle", np.angle, A((5,), dt), label="real")  # 0 or pi
case("angle", np.angle, np.array([-0.0, 0.0, -1.0, np.nan, -np.inf]), label="signed-zero")
case("abs", np.abs, np.array([0j, np.inf + 1j, complex(np.nan, 1.0), 3 + 4j]), label="special")
case("sign", np.sign, np.array([0j, -2.0 + 0j, 1e-300j, 3 - 4j]), label="special")
for op, ufunc, (lo, hi), _ in UNARY:
    if op not in ("floor", "ceil", "logical_not"):  # (NumPy has no complex floor or ceil)
        for dt in ("complex128", "complex64"):
            case(op, ufunc, C((2, 3), dt, low=lo / 2, high=hi / 2), label=f"{ufunc.__name__}-c")
for op, ufunc, pyop, _ in BINARY:  # comparisons, maximum, minimum: lexicographic
    for da, db in [("complex128", "complex128"), ("complex64", "float32"),
                   ("float64", "complex64"), ("complex64", "int64")]:  # fmt: skip
        make = lambda shape, dt, seed: (C if dt[0] == "c" else A)(shape, dt, seed=seed)
        x, y = make((2, 3), da, 3), make((3,), db, 5)
        if op in ("div", "pow"):
            x, y = x + 2.5, y + 2.5  # away from 0 and from pow's branch cut
        case(op, ufunc, x, y, label=f"{ufunc.__name__}-c")
    if pyop is not None:
        case(op, pyop, C((3,), "complex64"), 1.5 - 0.5j, label="operator-pycomplex")
case("matmul", np.matmul, C((2, 3), "complex128"), A((3, 2), "float32"), label="complex")
case("where", np.where, A((2, 3), "bool"), C((2, 3), "complex64"), 1.0, label="complex")
case("astype", lambda x: x.astype(np.complex64), A((2, 3), "float64"), label="to-complex")
for name, fn in (("sum", np.sum), ("max", np.max), ("min", np.min)):
    case(name, lambda z, fn=fn: fn(z, axis=0), C((3, 4), "complex128"), label="complex")


@pytest.mark.parametrize(
    "fn",
    [np.real, np.imag, np.conj, lambda x: x.real, lambda x: x.imag, lambda x: x.conjugate()],
    ids=["real", "imag", "conj", ".real", ".imag", ".conjugate"],
)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool"])
def test_parts_of_real_numbers_equal_numpy(fn, dtype):
    graph = check_traced(fn, A((2, 3), dtype))
    assert not {"real", "imag", "conj"} & set(ops_of(graph))  # no op: x itself, or zeros


@pytest.mark.parametrize("fn", [np.iscomplexobj, np.isrealobj, np.iscomplex, np.isreal])
@pytest.mark.parametrize("x", [C((2, 3), "complex64"), np.array([1 + 0j, 2j]), A((3,), "int64")])
def test_complex_predicates_equal_numpy(fn, x):
    assert_same(trace(lambda x: (fn(x), x))(x)[0], fn(x))


def test_hypot_of_complex_operands_is_an_error_as_in_numpy():
    with pytest.raises(TypeError):
        np.hypot(C((3,), "complex128"), 1.0)
    with pytest.raises(TracegradError, match="hypot: not defined for complex operands"):
        trace(lambda z: np.hypot(z, 1.0))(C((3,), "complex128"))


@pytest.mark.filterwarnings("error")  # NumPy's ComplexWarning: no complex -> real cast
def test_complex_to_real_astype_is_the_users_own():
    z = C((3,), "complex128")
    with pytest.warns(np.exceptions.ComplexWarning):
        expected = z.astype(np.float64)
    with pytest.warns(np.exceptions.ComplexWarning):  # NumPy warns, as in the user's own code
        assert_same(trace(lambda z: z.astype(np.float64))(z), expected)


# ----- elementwise math (elementwise_math.py) -----
for op, ufunc, (lo, hi), dtypes in [
    ("arcsin", np.arcsin, (-0.95, 0.95), ("float64", "float32", "int64")),
    ("arccos", np.arccos, (-0.95, 0.95), ("float64", "float32", "int8")),
    ("arcsinh", np.arcsinh, (-3, 3), ("float64", "float32", "int64")),
    ("arccosh", np.arccosh, (1, 4), ("float64", "float32", "int64")),
    ("arctanh", np.arctanh, (-0.95, 0.95), ("float64", "float32")),
    ("sinc", np.sinc, (-3, 3), ("float64", "float32", "int64")),
    ("cbrt", np.cbrt, (-8, 8), ("float64", "float32", "int64", "int8")),
    ("deg2rad", np.deg2rad, (-360, 360), ("float64", "float32", "int64", "int8")),
    ("deg2rad", np.radians, (-360, 360), ("float64", "int16")),
    ("rad2deg", np.rad2deg, (-7, 7), ("float64", "float32", "int64")),
    ("rad2deg", np.degrees, (-7, 7), ("float32", "int8")),
    ("isfinite", np.isfinite, (-2, 2), ("float64", "float32", "int64", "bool")),
    ("isnan", np.isnan, (-2, 2), ("float64", "float32", "int64")),
    ("isinf", np.isinf, (-2, 2), ("float64", "int8")),
    ("signbit", np.signbit, (-2, 2), ("float64", "float32", "int64")),
]:
    for dt in dtypes:
        for shape in UNARY_SHAPES:
            case(op, ufunc, A(shape, dt, low=lo, high=hi), label=ufunc.__name__)
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 3.0])
for op, ufunc in [("isfinite", np.isfinite), ("isnan", np.isnan), ("isinf", np.isinf),
                  ("signbit", np.signbit), ("sinc", np.sinc), ("cbrt", np.cbrt)]:  # fmt: skip
    case(op, ufunc, SPECIALS, label="specials")
    case(op, ufunc, SPECIALS.astype(np.float32), label="specials")

# (op, ufunc, operator or None, domain of both operands)
BINARY_MATH = [
    ("arctan2", np.arctan2, None, (-2, 2)),
    ("remainder", np.remainder, operator.mod, (-3, 3)),
    ("fmod", np.fmod, None, (-3, 3)),
    ("floor_divide", np.floor_divide, operator.floordiv, (-3, 3)),
    ("logaddexp", np.logaddexp, None, (-3, 3)),
    ("logaddexp2", np.logaddexp2, None, (-3, 3)),
    ("fmax", np.fmax, None, (-2, 2)),
    ("fmin", np.fmin, None, (-2, 2)),
    ("copysign", np.copysign, None, (-2, 2)),
    ("heaviside", np.heaviside, None, (-1, 1)),
    ("float_power", np.float_power, None, (0.5, 2)),
]
_NONZERO = ("remainder", "fmod", "floor_divide")  # integer division by zero warns
for op, ufunc, pyop, (lo, hi) in BINARY_MATH:
    for sa, sb in BROADCAST_SHAPES:
        x, y = A(sa, "float64", low=lo, high=hi, seed=1), A(sb, "float64", low=0.5, high=hi, seed=2)
        case(op, ufunc, x, y, label=ufunc.__name__)
    for da, db in DTYPE_PAIRS:
        lo_ = 1 if op in _NONZERO or op == "float_power" else lo
        x, y = A((2, 3), da, low=lo_, high=hi, seed=3), A((3,), db, low=1, high=hi, seed=4)
        case(op, ufunc, x, y, label=ufunc.__name__)
    x = A((2, 3), "float32", low=lo, high=hi, seed=5)
    case(op, lambda a, ufunc=ufunc: ufunc(a, 1.5), x, label="pyscalar")
    case(op, lambda a, ufunc=ufunc: ufunc(2, a), np.abs(x) + 0.5, label="rpyscalar")
    if pyop is not None:
        case(op, lambda a, pyop=pyop: pyop(a, 0.75), A((4,), "float64", low=-3, high=3),
             label="operator")  # fmt: skip
        case(op, lambda a, pyop=pyop: pyop(5, a), A((4,), "int64", low=1, high=4),
             label="roperator")  # fmt: skip
        case(op, pyop, A((2, 3), "int32", low=-9, high=9), A((3,), "int8", low=1, high=4),
             label="operator-int")  # fmt: skip
case("remainder", divmod, A((2, 3), "float64", low=-3, high=3), 0.75, label="divmod")
case("floor_divide", lambda x, y: divmod(7, x)[0] + np.divmod(x, y)[1], A((3,), "int64", low=1,
     high=4), A((2, 1), "int32", low=1, high=4), label="divmod")  # fmt: skip
for op, ufunc, _, _ in BINARY_MATH:
    case(op, ufunc, SPECIALS, SPECIALS[::-1], label="specials")
    case(op, ufunc, SPECIALS.astype(np.float32), np.float32(-0.0), label="specials")
for label, fn in {
    "defaults": np.nan_to_num,
    "nan": lambda x: np.nan_to_num(x, nan=-1.0),
    "posinf-neginf": lambda x: np.nan_to_num(x, posinf=9.0, neginf=-9.0),
    "copy": lambda x: np.nan_to_num(x, copy=False, nan=2),
}.items():
    for dt in ("float64", "float32"):
        case("where", fn, SPECIALS.astype(dt), label=f"nan_to_num-{label}")
    if label != "copy":  # NumPy cannot write a 0-d input in place
        case("where", fn, np.float32(np.inf), label=f"nan_to_num-{label}-0d")
case("isnan", lambda x: np.nan_to_num(x) + np.isnan(x), A((3,), "int64"), label="nan_to_num-int")

# ----- SciPy's special functions (special.py): scipy.special's ufuncs, traced -----
if sc is not None:
    for op, ufunc, (lo, hi) in [
        ("expit", sc.expit, (-5, 5)), ("logit", sc.logit, (0.05, 0.95)), ("erf", sc.erf, (-2, 2)),
        ("erfc", sc.erfc, (-2, 2)), ("erfinv", sc.erfinv, (-0.95, 0.95)),
        ("gammaln", sc.gammaln, (-3.5, 6)), ("digamma", sc.digamma, (0.1, 6)),
        ("digamma", sc.psi, (-2.5, 6)), ("ndtr", sc.ndtr, (-4, 4)),
        ("log_ndtr", sc.log_ndtr, (-30, 5)), ("entr", sc.entr, (-0.5, 3)),
        ("i0e", sc.i0e, (-5, 5)), ("i1e", sc.i1e, (-5, 5)),
    ]:  # fmt: skip
        ints = ("int64",) if np.ceil(lo) <= np.floor(hi) else ()
        for dt in ("float64", "float32", *ints):
            for shape in ((), (5,), (2, 3)):
                case(op, ufunc, A(shape, dt, low=lo, high=hi), label=ufunc.__name__)
        case(op, ufunc, SPECIALS, label="specials")
    for op, ufunc, dom0, dom1 in [
        ("betaln", sc.betaln, (0.2, 5), (0.2, 5)), ("xlogy", sc.xlogy, (-2, 2), (0.1, 3)),
        ("xlog1py", sc.xlog1py, (-2, 2), (-0.9, 3)), ("rel_entr", sc.rel_entr, (0, 2), (0, 2)),
    ]:  # fmt: skip
        for (sa, sb), (da, db) in zip(BROADCAST_SHAPES, DTYPE_PAIRS):
            x = A(sa, da, low=dom0[0], high=dom0[1], seed=1)
            case(op, ufunc, x, A(sb, db, low=dom1[0], high=dom1[1], seed=2), label=ufunc.__name__)
        case(op, lambda a, ufunc=ufunc: ufunc(a, 2), A((3,), "float32", high=1), label="pyscalar")
        case(op, lambda a, ufunc=ufunc: ufunc(0, a), A((3,), "float32", high=1), label="zero")
        case(op, ufunc, SPECIALS, SPECIALS[::-1], label="specials")
    for n in range(4):
        for dt in ("float64", "float32"):
            case("polygamma", lambda x, n=n: traced_special.polygamma(n, x),
                 A((2, 3), dt, low=0.2, high=5), label=f"n={n}")  # fmt: skip


# ----- scans, sorting, prod/any/all (every keyword and dtype: tests/tracer/test_scans_sorting.py)
for shape, axis in [((5,), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3), None), ((), None)]:
    for dt in ("float64", "float32", "int32", "bool"):
        x = A(shape, dt, low=-3, high=3)
        for name in ("cumsum", "cumprod", "prod", "any", "all"):
            f = lambda x, name=name, axis=axis: getattr(np, name)(x, axis=axis)
            case(name, f, x, label=f"axis={axis}")
        if shape and dt != "bool":
            kth = 1 if axis is not None else 2
            for name in ("sort", "argsort", "median"):
                f = lambda x, name=name, axis=axis: getattr(np, name)(x, axis=axis)
                case(name, f, x, label=f"axis={axis}")
            for name in ("partition", "argpartition"):
                f = lambda x, name=name, axis=axis, k=kth: getattr(np, name)(x, k, axis=axis)
                case(name, f, x, label=f"axis={axis}")
case("searchsorted", lambda a, v: np.searchsorted(a, v), np.arange(5.0), A((2, 3), "float64"))
# invert_permutation (in sort's and partition's derivatives) is argsort of permutations
PERMS = np.argsort(A((3, 5, 4), "float64"), axis=1)
for axis in (0, 1, 2):
    perm = np.argsort(PERMS, axis=axis)
    f = lambda p, axis=axis: PRIMITIVES["invert_permutation"].bind(p, axis=axis)
    case("invert_permutation", f, perm, label=f"axis={axis}")
case("searchsorted", lambda a, v: np.searchsorted(a, v, side="right"), np.arange(5),
     A((3,), "int64"), label="right")  # fmt: skip


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_primitive_equals_numpy(c: Case):
    graph = check_traced(c.fn, *c.args)
    assert c.op in ops_of(graph)


def test_cases_cover_every_primitive():
    covered = {c.op for c in CASES} | {"scatter_add"}  # scatter_add: test below
    covered |= {"expm"}  # reached from tracer.scipy.linalg only: tests/tracer/test_scipy_linalg.py

    if sc is None:  # SciPy is optional: without it, its special functions are not tested
        covered |= {p.name for p in special.PRIMITIVES}
    assert covered == set(PRIMITIVES)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_invert_permutation_is_argsort_of_a_permutation(axis):
    perm = np.argsort(A((4, 6), "float64"), axis=axis)
    inverse = PRIMITIVES["invert_permutation"].bind
    g = trace(lambda p: inverse(p, axis=axis % 2)).trace(perm)
    assert "invert_permutation" in ops_of(g)
    assert_same(trace(lambda p: inverse(p, axis=axis % 2))(perm), np.argsort(perm, axis=axis))


# ----- scatter_add (the adjoint of getitem; not reachable from NumPy code) -----
@pytest.mark.parametrize(
    "index, g_shape",
    [
        ((("int", 1),), (5,)),
        ((("slice", 3, None, -1),), (4, 5)),
        ((("slice", 0, 4, 2), ("newaxis",)), (2, 1, 5)),
        ((("array", 0),), (6, 5)),
    ],
)
def test_scatter_add_equals_add_at(index, g_shape):
    scatter_add = PRIMITIVES["scatter_add"]
    idx = np.array([0, 2, 2, 3, 0, 2])
    arrays = (idx,) if any(item[0] == "array" for item in index) else ()

    def f(g):
        return scatter_add.bind(g, *arrays, shape=(4, 5), index=index)

    g = make_array(g_shape, "float64")
    expected = np.zeros((4, 5))
    np_index = tuple(
        {"int": lambda i: i[1], "slice": lambda i: slice(*i[1:]), "newaxis": lambda i: None,
         "array": lambda i: arrays[i[1]]}[item[0]](item)
        for item in index
    )  # fmt: skip
    np.add.at(expected, np_index, g)
    assert_same(trace(f)(g), expected)
    assert "scatter_add" in ops_of(trace(f).trace(g))


# ----- composites -----
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.mean(x),
        lambda x: x.mean(axis=1),
        lambda x: x.mean(axis=(0, 2), keepdims=True),
        lambda x: np.var(x, axis=-1),
        lambda x: x.var(ddof=1),
        lambda x: x.var(axis=0, ddof=2),  # ddof == n: inf, as NumPy
        lambda x: np.std(x, axis=1, ddof=5),  # ddof > n: inf, not a negative variance
        lambda x: x.std(axis=0),
        lambda x: np.std(x, keepdims=True),
        lambda x: np.log2(np.abs(x) + 1) + np.log10(np.abs(x) + 1) + np.exp2(x),
        lambda x: np.sinh(x) * np.cosh(x) + np.hypot(x, 2.0),
        lambda x: +x + np.positive(x),
        lambda x: np.flip(x, 1),
        lambda x: np.flip(x),
        lambda x: np.zeros_like(x) + np.ones_like(x) * x + np.full_like(x, 3.0),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns on the ddof >= n cases
def test_composite_equals_numpy(fn, dtype):
    check_traced(fn, make_array((2, 3, 4), dtype, low=-3, high=3))


@pytest.mark.parametrize("fn", [np.var, np.std, np.mean, np.sum])
def test_complex_reductions_equal_numpy(fn):
    x = make_array((3, 4), "float64") + 1j * make_array((3, 4), "float64", seed=1)
    check_traced(lambda a: fn(a, axis=0), x)
    check_traced(lambda a: fn(a.astype(np.complex64)), x)


# ----- dtype promotion -----
@pytest.mark.parametrize(
    "fn, x, dtype",
    [
        (lambda x: x * 2.0, np.ones(3, np.float32), np.float32),  # weak float keeps float32
        (lambda x: 2.0 * x, np.ones(3, np.float32), np.float32),
        (lambda x: x + 1, np.ones(3, np.float32), np.float32),
        (lambda x: x * 2.5, np.ones(3, np.int64), np.float64),  # int * float -> float64
        (lambda x: x + 1, np.ones(3, np.int8), np.int8),  # weak int keeps int8
        (lambda x: x * True, np.ones(3, np.int32), np.int32),
        (lambda x: x + np.float64(1.0), np.ones(3, np.float32), np.float64),  # NumPy scalar: strong
        (lambda x: x + np.ones(3), np.ones(3, np.float32), np.float64),
        (lambda x: x / 2, np.ones(3, np.int32), np.float64),
        (lambda x: x**2, np.ones(3, np.float32), np.float32),
        (lambda x: np.maximum(x, 0), np.ones(3, np.float32), np.float32),
        (lambda x: np.where(x > 0, x, 0.0), np.ones(3, np.float32), np.float32),
        (lambda x: x + 1j, np.ones(3, np.float32), np.complex64),
        (lambda x: x < 1, np.ones(3, np.float32), np.bool_),
    ],
)
def test_promotion_follows_nep50(fn, x, dtype):
    assert np.asarray(fn(x)).dtype == dtype  # the rule we claim is NumPy's
    out = trace(fn)(x)
    assert np.asarray(out).dtype == dtype
    assert_same(out, fn(x))


@pytest.mark.parametrize(
    "fn, dtype",
    [
        (lambda x: x < 1000, "int8"),  # NumPy compares Python ints by value
        (lambda x: x == 1000, "int8"),
        (lambda x: np.greater_equal(300, x), "uint8"),
        (lambda x: x > -1, "uint8"),
        (lambda x: np.not_equal(x, -(2**40)), "int32"),
        (lambda x: x <= 2**40 + 0.5, "int8"),
    ],
)
def test_comparison_with_out_of_range_python_int_is_by_value(fn, dtype):
    x = make_array((5,), dtype, low=-3, high=3) if dtype[0] == "i" else np.arange(5, dtype=dtype)
    check_traced(fn, x)


@pytest.mark.parametrize(
    "value, dtype",
    [(2.0, np.float64), (3, np.int64), (True, np.bool_), (1.5j, np.complex128)],
)
def test_python_number_argument_is_weak_input(value, dtype):
    @trace
    def f(x, s):
        return x * s

    x32 = np.ones(3, np.float32)
    got = f(x32, value)
    assert_same(got, x32 * value)
    g = f.trace(x32, value)
    s_node = g.inputs[1]
    assert g.nodes[s_node]["dtype"] == np.dtype(dtype).name
    assert g.nodes[s_node]["shape"] == ()
    # alone, a Python-number argument computes in its own default dtype
    assert_same(trace(lambda s: s + s)(value), np.asarray(value) + np.asarray(value))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, s: x * s,
        lambda x, s: x * (s * 2),  # Python arithmetic on a Python number: still weak
        lambda x, s: x * -(s * 1.0) + abs(s) ** 2,
        lambda x, s: x * np.exp(s),  # a NumPy call returns np.float64: strong
        lambda x, s: x * np.clip(s, 0, 1),
        lambda x, s: x + np.maximum(s, 0),
        lambda x, s: x + np.where(x > 0, s, 2.0),
        lambda x, s: x + np.where(x > 0, 1.0, 2.0),
        lambda x, s: x + np.sum(s),
        lambda x, s: x * (s > 1),
    ],
)
@pytest.mark.parametrize("s", [2.0, 3, True])
def test_python_number_argument_promotes_like_numpy(fn, s):
    x = make_array((3,), "float32")
    got = trace(fn)(x, s)
    assert np.asarray(got).dtype == np.asarray(fn(x, s)).dtype
    assert_same(got, fn(x, s))


def test_numpy_scalar_argument_is_0d_input():
    g = check_traced(lambda x, s: x * s, np.ones(3, np.float32), np.float64(2.0))
    assert g.nodes[g.inputs[1]]["shape"] == ()
    assert g.nodes[g.inputs[1]]["dtype"] == "float64"


# ----- hypothesis: random broadcasting shapes and values -----
@settings(max_examples=60, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    op=st.sampled_from([np.add, np.subtract, np.multiply, np.maximum, np.less, np.equal]),
    dtypes=st.tuples(
        st.sampled_from(["float64", "float32", "int32", "int64"]),
        st.sampled_from(["float64", "float32", "int16", "int64"]),
    ),
    seed=st.integers(0, 2**16),
)
def test_binary_broadcasting_matches_numpy(shapes, op, dtypes, seed):
    (sa, sb), _ = shapes
    x = make_array(sa, dtypes[0], seed=seed)
    y = make_array(sb, dtypes[1], seed=seed + 1)
    graph = check_traced(op, x, y)
    out = graph.nodes[graph.outputs[0]]
    assert out["shape"] == np.broadcast_shapes(sa, sb)


def _wide_slices(n):
    bound = st.none() | st.integers(-2 * n - 3, 2 * n + 3)
    step = st.none() | st.integers(-3, 3).filter(bool)
    return st.builds(slice, bound, bound, step)


@settings(max_examples=150, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
    data=st.data(),
)
def test_basic_slices_match_numpy(shape, data):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    index = tuple(
        data.draw(
            _wide_slices(n) | st.integers(-n, n - 1) if n else _wide_slices(n), label=f"axis{i}"
        )
        for i, n in enumerate(shape)
    )
    check_traced(lambda a: a[index], x)


@settings(max_examples=40, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=4),
    data=st.data(),
)
def test_reductions_match_numpy(shape, data):
    x = make_array(shape, "float64", seed=len(shape))
    axis = data.draw(st.none() | hnp.valid_tuple_axes(len(shape)))
    keepdims = data.draw(st.booleans())
    check_traced(lambda a: np.sum(a, axis=axis, keepdims=keepdims), x)
    if x.size:
        check_traced(lambda a: np.max(a, axis=axis, keepdims=keepdims), x)


@st.composite
def _mixed_index(draw, shape):
    """A NumPy index mixing ints, slices, integer arrays, lists, None and one Ellipsis."""
    items = []
    array_shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=3))
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "array", "list", "skip"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            items.append(draw(_wide_slices(n)))
        elif kind == "array":
            items.append(draw(hnp.arrays(np.int64, array_shape, elements=st.integers(-n, n - 1))))
        elif kind == "list":
            items.append(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=3)))
        else:
            break  # fewer indices than dimensions: the rest are implicit full slices
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), Ellipsis)
    return tuple(items)


@settings(max_examples=150, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), data=st.data())
def test_mixed_indexing_matches_numpy(shape, data):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    index = data.draw(_mixed_index(shape))
    try:
        x[index]
    except IndexError:  # lists of different lengths that do not broadcast
        return
    graph = check_traced(lambda a: a[index], x)
    assert "getitem" in ops_of(graph) or graph.outputs == graph.inputs


# ----- hypothesis: random programs mixing dtypes and Python numbers -----
_DTYPE_OPS = [
    lambda a, b, s: a + b,
    lambda a, b, s: a * s,
    lambda a, b, s: s - a,
    lambda a, b, s: a / (np.abs(b) + 1),
    lambda a, b, s: np.maximum(a, s),
    # abs(s): np.where wraps an out-of-range Python int (uint8 and -1 give 255) where
    # ufuncs raise; tracegrad raises for both
    lambda a, b, s: np.where(a > b, a, abs(s)),
    lambda a, b, s: np.where(a > 0, abs(s), b),
    lambda a, b, s: (a < s) & (b >= 0),
    lambda a, b, s: a.astype(np.float32),
    lambda a, b, s: a.astype(np.int16) if a.dtype.kind != "c" else a,
    lambda a, b, s: np.sum(a, axis=-1, keepdims=True) if a.ndim else a,
    lambda a, b, s: a.mean() * b,
    lambda a, b, s: np.clip(a, -1, s) if a.dtype.kind not in "bc" else a,
    lambda a, b, s: np.exp(np.tanh(a)) if a.dtype.kind != "b" else a,
    lambda a, b, s: -a if a.dtype.kind != "b" else ~a,
    lambda a, b, s: a.T @ b.T if a.ndim == 2 and b.ndim == 2 and a.shape[0] == b.shape[1] else a,
    lambda a, b, s: np.concatenate([a.reshape(-1), b.reshape(-1)]),
    lambda a, b, s: a[..., ::-1] if a.ndim else a,
]


@settings(max_examples=150, deadline=None)
@given(
    dtypes=st.lists(
        st.sampled_from(["float64", "float32", "int64", "int32", "int8", "uint8", "bool"]),
        min_size=2,
        max_size=2,
    ),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
    steps=st.lists(
        st.tuples(
            st.integers(0, len(_DTYPE_OPS) - 1),
            st.integers(0, 7),
            st.integers(0, 7),
            st.sampled_from([2, 0.5, True, -1, 3.0]),
        ),
        min_size=1,
        max_size=6,
    ),
    # y a Python number: a weak input. (Not True: Python's own True + True == 2 is not
    # traced; like JAX, a Python bool argument is a weak *boolean* array.)
    y_number=st.sampled_from([None, None, 2, 0.5, -3]),
)
def test_random_mixed_dtype_programs_match_numpy(dtypes, shapes, steps, y_number):
    (sa, sb), _ = shapes
    x = make_array(sa, dtypes[0], low=-3, high=3, seed=1)
    y = make_array(sb, dtypes[1], low=-3, high=3, seed=2) if y_number is None else y_number

    def program(x, y):
        values = [x, y]
        for op, i, j, s in steps:
            a, b = values[i % len(values)], values[j % len(values)]
            values.append(_DTYPE_OPS[op](a, b, s))
        return values[2:]

    with np.errstate(all="ignore"):
        try:
            program(x, y)
        except (TypeError, ValueError, OverflowError, AttributeError):  # NumPy rejects it
            return
        check_traced(program, x, y)
