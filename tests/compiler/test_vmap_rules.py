"""Every primitive's batching rule equals a loop of unbatched calls: values and gradients.

One table of ``Case(op, fn, make)``: ``fn`` is plain NumPy code whose traced graph
contains a node of ``op``; ``make(seed)`` gives one example's arguments. Each case
runs with the batch axis of every argument first, in the middle and last, with
every argument mapped and with each one alone mapped (the others shared), and
checks

- ``vmap(fn, in_axes)`` against ``np.stack`` of ``fn`` on each example;
- ``vmap(grad(h))`` (per-example gradients of ``h = sum(sin(fn))``) against a loop of
  ``grad(h)``: this batches the rule's gradient graph;
- ``grad`` of ``sum(sin(vmap(fn)))`` against the loop's gradients (stacked for a
  mapped argument, summed for a shared one): this differentiates what the rule built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from custom_testing import log1pexp

from compiler import custom_jvp, custom_vjp, grad, jacobian, numerical_grad, stop_gradient, vmap
from tracer import PRIMITIVES, ops, trace
from tracer.scipy import special as sp
from tracer.scipy.linalg import expm

pytestmark = pytest.mark.usefixtures("validated_graphs")

BATCH = 3
scatter_add = PRIMITIVES["scatter_add"]
invert_permutation = PRIMITIVES["invert_permutation"]


def rand(*shape, low=-2.0, high=2.0, dtype="float64"):
    """A maker of one example: a random array of ``shape`` (different for each seed)."""
    return lambda rng: np.asarray(rng.uniform(low, high, size=shape)).astype(dtype)


def ints(*shape, high):
    return lambda rng: rng.integers(0, high, size=shape).astype(np.intp)


def bools(*shape):
    return lambda rng: rng.random(shape) < 0.5


def cplx(*shape):
    return lambda rng: rng.uniform(-2.0, 2.0, size=shape) + 1j * rng.uniform(-2.0, 2.0, size=shape)


def within(low, high):
    """A maker of makers: ``rand`` on ``[low, high]`` (a function's domain)."""
    return lambda *shape, **kw: rand(*shape, low=low, high=high, **kw)


def perms(rows, n):
    return lambda rng: np.stack([rng.permutation(n) for _ in range(rows)]).astype(np.intp)


def sorted_rand(n, *, ties=False, nan=False):
    """One sorted array (with repeated entries, or NaNs, which sort last)."""

    def make(rng):
        a = rng.integers(0, 4, size=n).astype(float) if ties else rng.uniform(-2.0, 2.0, size=n)
        if nan:
            a[rng.integers(0, n, size=2)] = np.nan
        return np.sort(a)

    return make


def steps(*shape, nan=False):
    """Values among 0, 1, ..., 4 (equal to entries of ``sorted_rand(ties=True)``)."""

    def make(rng):
        v = rng.integers(0, 5, size=shape).astype(float)
        if nan:
            v.flat[0] = np.nan
        return v

    return make


@dataclass(frozen=True)
class Case:
    op: str  # the primitive this case must exercise
    fn: Callable  # plain NumPy code
    makers: tuple  # one maker per argument: rng -> one example's value
    label: str = ""

    def example(self, seed: int) -> tuple:
        rng = np.random.default_rng(seed)
        return tuple(make(rng) for make in self.makers)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op


CASES: list[Case] = []


def case(op, fn, *makers, label=""):
    CASES.append(Case(op, fn, makers, label))


# ----- elementwise -----
UNARY = {
    "neg": (np.negative, rand), "exp": (np.exp, rand), "sin": (np.sin, rand),
    "cos": (np.cos, rand), "tanh": (np.tanh, rand), "arctan": (np.arctan, rand),
    "abs": (np.abs, rand), "sign": (np.sign, rand), "square": (np.square, rand),
    "floor": (np.floor, rand), "ceil": (np.ceil, rand), "expm1": (np.expm1, rand),
    "tan": (np.tan, lambda *s: rand(*s, low=-1.0, high=1.0)),
    "log": (np.log, lambda *s: rand(*s, low=0.5, high=2.0)),
    "sqrt": (np.sqrt, lambda *s: rand(*s, low=0.5, high=2.0)),
    "reciprocal": (np.reciprocal, lambda *s: rand(*s, low=0.5, high=2.0)),
    "log1p": (np.log1p, lambda *s: rand(*s, low=0.5, high=2.0)),
}  # fmt: skip
for op, (ufunc, gen) in UNARY.items():
    case(op, ufunc, gen(2, 3))
case("exp", np.exp, rand(), label="0d")
case("sin", np.sin, rand(4, dtype="float32"), label="float32")
case("round", lambda x: np.round(x, 1), rand(2, 3))
case("logical_not", np.logical_not, bools(2, 3))

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum,
    "minimum": np.minimum, "less": np.less, "less_equal": np.less_equal, "greater": np.greater,
    "greater_equal": np.greater_equal, "equal": np.equal, "not_equal": np.not_equal,
}  # fmt: skip
for op, ufunc in BINARY.items():
    case(op, ufunc, rand(2, 3), rand(3), label="ranks")
    case(op, ufunc, rand(2, 1), rand(1, 3), label="stretch")
case("add", np.add, rand(3), rand(3), label="same")
case("mul", np.multiply, rand(), rand(2, 3), label="0d")
case("add", np.add, ints(2, 3, high=5), ints(3, high=5), label="int")
case("div", np.divide, rand(2, 3), rand(3, low=0.5, high=2.0))
case("pow", np.power, rand(2, 3, low=0.5, high=2.0), rand(3))
case("logical_and", np.logical_and, bools(2, 3), bools(3))
case("logical_or", np.logical_or, bools(2, 3), bools(3))
case("where", lambda x, y: np.where(x > 0, x, y), rand(2, 3), rand(3), label="compare")
case("where", np.where, bools(3), rand(2, 3), rand(), label="bool")
case("clip", lambda x: np.clip(x, -0.5, 0.5), rand(2, 3))
case("astype", lambda x: np.sin(x.astype(np.float32)), rand(2, 3))

# ----- elementwise math (elementwise_math) and complex parts -----
MATH = {
    "arcsin": (np.arcsin, within(-0.9, 0.9)), "arccos": (np.arccos, within(-0.9, 0.9)),
    "arcsinh": (np.arcsinh, rand), "arccosh": (np.arccosh, within(1.5, 3.0)),
    "arctanh": (np.arctanh, within(-0.9, 0.9)), "cbrt": (np.cbrt, within(0.5, 2.0)),
    "deg2rad": (np.deg2rad, rand), "rad2deg": (np.rad2deg, rand), "sinc": (np.sinc, rand),
    "isfinite": (np.isfinite, rand), "isnan": (np.isnan, rand), "isinf": (np.isinf, rand),
    "signbit": (np.signbit, rand),
}  # fmt: skip
for op, (ufunc, gen) in MATH.items():
    case(op, ufunc, gen(2, 3))
MATH2 = {
    "arctan2": np.arctan2, "remainder": np.remainder, "fmod": np.fmod,
    "floor_divide": np.floor_divide, "logaddexp": np.logaddexp, "logaddexp2": np.logaddexp2,
    "fmax": np.fmax, "fmin": np.fmin, "copysign": np.copysign, "heaviside": np.heaviside,
}  # fmt: skip
for op, ufunc in MATH2.items():
    case(op, ufunc, rand(2, 3), within(0.5, 2.0)(3), label="ranks")
case("float_power", np.float_power, within(0.5, 2.0)(2, 3), rand(3))
case("real", np.real, cplx(2, 3), label="values")
case("imag", np.imag, cplx(2, 3), label="values")
case("conj", np.conj, cplx(2, 3), label="values")
case("angle", np.angle, cplx(2, 3), label="values")
case("abs", np.abs, cplx(2, 3), label="complex")
# gradients through the complex parts: real arguments, complex in between
case("real", lambda x, y: np.real((x + 1j * y) * (y - 2j)), rand(2, 3), rand(3), label="grad")
case("imag", lambda x, y: np.imag((x + 1j * y) * (y - 2j)), rand(2, 3), rand(3), label="grad")
case("conj", lambda x, y: np.real(np.conj(x + 1j * y) * (x - 1j)), rand(2, 3), rand(3),
     label="grad")  # fmt: skip
case("angle", lambda x, y: np.angle(x + 1j * y), within(0.5, 2.0)(2, 3), rand(3), label="grad")

# ----- scipy.special (special) -----
SPECIAL = {
    "expit": (sp.expit, rand), "logit": (sp.logit, within(0.1, 0.9)), "erf": (sp.erf, rand),
    "erfc": (sp.erfc, rand), "erfinv": (sp.erfinv, within(-0.9, 0.9)),
    "gammaln": (sp.gammaln, within(0.5, 3.0)), "digamma": (sp.digamma, within(0.5, 3.0)),
    "polygamma": (lambda x: sp.polygamma(1, x), within(0.5, 3.0)), "ndtr": (sp.ndtr, rand),
    "log_ndtr": (sp.log_ndtr, rand), "entr": (sp.entr, within(0.1, 2.0)),
    "i0e": (sp.i0e, rand), "i1e": (sp.i1e, rand),
}  # fmt: skip
for op, (fn, gen) in SPECIAL.items():
    case(op, fn, gen(2, 3))
case("polygamma", lambda x: sp.polygamma(2, x), within(0.5, 3.0)(4, dtype="float32"),
     label="float32")  # fmt: skip
SPECIAL2 = {
    "betaln": (sp.betaln, within(0.5, 3.0), within(0.5, 3.0)),
    "xlogy": (sp.xlogy, rand, within(0.5, 2.0)),
    "xlog1py": (sp.xlog1py, rand, within(-0.5, 2.0)),
    "rel_entr": (sp.rel_entr, within(0.1, 2.0), within(0.1, 2.0)),
}
for op, (fn, gen0, gen1) in SPECIAL2.items():
    case(op, fn, gen0(2, 3), gen1(3), label="ranks")

# ----- reductions -----
for op, fn in (("sum", np.sum), ("max", np.max), ("min", np.min), ("prod", np.prod)):
    case(op, lambda x, fn=fn: fn(x, axis=1), rand(2, 3, 4), label="axis1")
    case(op, lambda x, fn=fn: fn(x, axis=(0, 2), keepdims=True), rand(2, 3, 4), label="keep")
    case(op, lambda x, fn=fn: fn(x), rand(2, 3), label="all")
for op, fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    case(op, lambda x, fn=fn: fn(x), rand(2, 3, 4), label="flat")
    case(op, lambda x, fn=fn: fn(x, keepdims=True), rand(2, 3), label="flat-keep")
    case(op, lambda x, fn=fn: fn(x, axis=1), rand(2, 3, 4), label="axis1")
    case(op, lambda x, fn=fn: fn(x, axis=0, keepdims=True), rand(2, 3), label="keep")
for op, fn in (("any", np.any), ("all", np.all)):
    case(op, lambda x, fn=fn: fn(x, axis=1), bools(2, 3, 4), label="axis1")
    case(op, lambda x, fn=fn: fn(x, axis=(0, 2), keepdims=True), bools(2, 3, 4), label="keep")
    case(op, lambda x, fn=fn: fn(x), bools(2, 3), label="all")
case("median", lambda x: np.median(x, axis=1), rand(2, 5, 4), label="axis1")
case("median", lambda x: np.median(x, axis=(0, 2), keepdims=True), rand(2, 3, 4), label="keep")
case("median", np.median, rand(2, 3), label="all")

# ----- scans and sorting -----
for op, fn in (("cumsum", np.cumsum), ("cumprod", np.cumprod)):
    case(op, lambda x, fn=fn: fn(x, axis=1), rand(2, 3, 4), label="axis1")
    case(op, lambda x, fn=fn: fn(x), rand(2, 3), label="flat")
case("cumsum", lambda x: np.cumsum(x, axis=0), ints(3, 2, high=5), label="int")
for op, fn in (("sort", np.sort), ("argsort", np.argsort)):
    case(op, lambda x, fn=fn: fn(x), rand(2, 5), label="last")
    case(op, lambda x, fn=fn: fn(x, axis=0), rand(4, 3), label="axis0")
case("argsort", lambda x: np.argsort(x, axis=1, kind="stable"), steps(2, 6), label="ties")
case("sort", lambda x: np.sort(x, axis=None), rand(2, 3), label="flat")
case("partition", lambda x: np.partition(x, 2), rand(3, 5), label="last")
case("partition", lambda x: np.partition(x, (0, 3), axis=0), rand(5, 2), label="axis0")
case("argpartition", lambda x: np.argpartition(x, 2), rand(3, 5), label="last")
case("argpartition", lambda x: np.argpartition(x, (0, 3), axis=0), rand(5, 2), label="axis0")
case("invert_permutation", lambda p: invert_permutation.bind(p, axis=1), perms(3, 5))
case("searchsorted", np.searchsorted, sorted_rand(6), rand(2, 3), label="left")
case("searchsorted", lambda a, v: np.searchsorted(a, v, side="right"), sorted_rand(6), rand(4),
     label="right")  # fmt: skip
for side in ("left", "right"):
    case("searchsorted", lambda a, v, side=side: np.searchsorted(a, v, side=side),
         sorted_rand(6, ties=True), steps(2, 3), label=f"ties-{side}")  # fmt: skip
    case("searchsorted", lambda a, v, side=side: np.searchsorted(a, v, side=side),
         sorted_rand(6, nan=True), steps(3, nan=True), label=f"nan-{side}")  # fmt: skip
case("searchsorted", np.searchsorted, lambda rng: np.sort(rng.integers(0, 4, size=5)),
     rand(2, low=-1.0, high=4.0), label="mixed")  # fmt: skip
case("searchsorted", np.searchsorted, sorted_rand(6), rand(), label="0d")


# ----- markers: stop_gradient, checkpoint's barrier, custom-derivative calls -----


@custom_jvp
def normalize(x):  # the rule reduces over the example: batching it must keep examples apart
    return x / np.sum(x)


@normalize.defjvp
def _normalize_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = normalize(x)
    return y, (t - y * np.sum(t)) / np.sum(x)


@custom_vjp
def tanh_pair(x, w):  # two results, two arguments (each may be shared by every example)
    return np.tanh(x * w), np.sum(x, axis=0) * w


def _tanh_pair_fwd(x, w):
    return tanh_pair(x, w), (x, w)


def _tanh_pair_bwd(res, g):
    (x, w), (g1, g2) = res, g
    d = g1 * (1.0 - np.tanh(x * w) ** 2)
    return d * w + g2 * w, np.sum(d * x, axis=0) + g2 * np.sum(x, axis=0)


tanh_pair.defvjp(_tanh_pair_fwd, _tanh_pair_bwd)

case("stop_gradient", lambda x: x * stop_gradient(np.sin(x)), rand(2, 3))
case("after", ops.after, rand(2, 3), rand(3))
case("custom_jvp_call", log1pexp, rand(2, 3))
case("custom_jvp_call", normalize, within(0.5, 2.0)(4), label="reduces")
case("custom_vjp_call", lambda x, w: sum(tanh_pair(x, w)), rand(2, 3), rand(3), label="pair")
case("custom_vjp_call", lambda x, w: tanh_pair(x, w)[1], rand(2, 3), rand(3), label="one-used")

# ----- shape ops -----
case("reshape", lambda x: np.reshape(x, (6, 4)), rand(2, 3, 4))
case("reshape", lambda x: np.reshape(x, (1, 1)), rand(), label="0d")
case("transpose", lambda x: np.transpose(x, (2, 0, 1)), rand(2, 3, 4))
case("transpose", lambda x: x.T, rand(2, 3), label="T")
case("broadcast_to", lambda x: np.broadcast_to(x, (4, 2, 3)), rand(2, 3))
case("broadcast_to", lambda x: np.broadcast_to(x, (2, 3, 5)), rand(3, 1), label="stretch")
case("squeeze", np.squeeze, rand(1, 3, 1))
case("squeeze", lambda x: np.squeeze(x, 0), rand(1, 3), label="axis0")
case("expand_dims", lambda x: np.expand_dims(x, (0, 2)), rand(2, 3))
case("expand_dims", lambda x: np.expand_dims(x, -1), rand(2, 3), label="last")
case("concatenate", lambda x, y: np.concatenate([x, y, x], axis=1), rand(2, 3), rand(2, 4))
case("concatenate", lambda x, y: np.concatenate([x, y]), rand(3), rand(2), label="axis0")
for axis in (0, 1, 2):
    case("stack", lambda x, y, a=axis: np.stack([x, y], axis=a), rand(2, 3), rand(2, 3),
         label=f"axis{axis}")  # fmt: skip
case("matmul", np.matmul, rand(3), rand(3), label="vec-vec")
case("matmul", np.matmul, rand(2, 3), rand(3), label="mat-vec")
case("matmul", np.matmul, rand(3), rand(3, 4), label="vec-mat")
case("matmul", np.matmul, rand(2, 3), rand(3, 4), label="mat-mat")
case("matmul", np.matmul, rand(5, 2, 3), rand(3, 4), label="stack-mat")
case("matmul", np.matmul, rand(3), rand(2, 3, 4), label="vec-stack")
case("matmul", np.matmul, rand(2, 1, 2, 3), rand(4, 3, 2), label="broadcast")

# ----- getitem: static indices, and traced index arrays -----
GETITEM = {
    "int": lambda x: x[1],
    "slices": lambda x: x[1:, :-1, ::2],
    "reverse": lambda x: x[::-1, 2],
    "newaxis": lambda x: x[:, None, 1],
    "ellipsis": lambda x: x[..., 0],
    "array": lambda x: x[np.array([0, 2, 2])],
    "array-after-slice": lambda x: x[1:3, [0, 0, 4]],
    "arrays": lambda x: x[[0, 1], [4, 4]],
    "arrays-split": lambda x: x[[0, 3], :, [5, 0]],
    "ellipsis-between-arrays": lambda x: x[None, 0, 1, ..., [0, 0]],
}
for label, fn in GETITEM.items():
    case("getitem", fn, rand(4, 5, 6), label=label)
case("getitem", lambda x, i: x[i], rand(4, 5), ints(3, high=4), label="traced")
case("getitem", lambda x, i: x[:, i, 0], rand(4, 5, 6), ints(2, 1, high=5), label="traced-mid")
case("getitem", lambda x, i, j: x[i, :, j], rand(4, 5, 6), ints(3, high=4), ints(3, high=6),
     label="traced-split")  # fmt: skip
case("getitem", lambda x, i: x[1:3, i], rand(4, 5), ints(2, 2, high=5), label="traced-after")

# ----- scatter_add (the adjoint of getitem; reached from NumPy code only by grad) -----
SCATTER = {
    "int": ((("int", 1),), (4, 5), rand(5), None),
    "slices": ((("slice", 0, 4, 2), ("newaxis",)), (4, 5), rand(2, 1, 5), None),
    "array": ((("array", 0),), (4, 5), rand(6, 5), ints(6, high=4)),
    "array-after": ((("slice", 0, 4, 1), ("array", 0)), (4, 5), rand(4, 3), ints(3, high=5)),
}
for label, (index, shape, g, i) in SCATTER.items():
    if i is None:
        fn = lambda g, index=index, shape=shape: scatter_add.bind(g, shape=shape, index=index)
        case("scatter_add", fn, g, label=label)
    else:
        fn = lambda g, i, index=index, shape=shape: scatter_add.bind(g, i, shape=shape, index=index)
        case("scatter_add", fn, g, i, label=label)
case("scatter_add", lambda g, i, j: scatter_add.bind(g, i, j, shape=(4, 5, 6),
     index=(("array", 0), ("slice", 0, 5, 1), ("array", 1))), rand(3, 5), ints(3, high=4),
     ints(3, high=6), label="arrays-split")  # fmt: skip


# ----- linear algebra -----


def well(*shape, dtype="float64"):
    """A well-conditioned matrix (stack): singular values, and the eigenvalues of its
    symmetric part, far apart (derivatives of eigenvectors and SVD need them distinct)."""
    m, n = shape[-2:]
    diag = np.eye(m, n) * np.arange(1.0, n + 1)
    return lambda rng: (rng.uniform(-0.2, 0.2, size=shape) + diag).astype(dtype)


def sym_well(*shape):
    """A symmetric positive definite ``well`` matrix (cholesky and eigh read one triangle)."""
    make = well(*shape)
    return lambda rng: (lambda a: (a + np.swapaxes(a, -1, -2)) / 2)(make(rng))


case("einsum", lambda x, y: np.einsum("ij,jk->ik", x, y), rand(2, 3), rand(3, 4))
case("einsum", lambda x: np.einsum("ii->i", x), rand(3, 3), label="diagonal")
case("einsum", lambda x: np.einsum("ij->ji", x), rand(2, 3), label="transpose")
case("einsum", lambda x, y: np.einsum("i,i", x, y), rand(3), rand(3), label="inner")
case("einsum", lambda x, y: np.einsum("...i,...j", x, y), rand(2, 3), rand(4), label="ellipsis")
case("einsum", lambda x, y: np.einsum("...ij,...jk", x, y), rand(1, 2, 3), rand(4, 3, 2),
     label="broadcast")  # fmt: skip
case("einsum", lambda x, y, z: np.einsum("ij,jk,kl->il", x, y, z, optimize=True),
     rand(2, 3), rand(3, 4), rand(4, 2), label="path")  # fmt: skip
case("einsum", lambda x, y: np.einsum(x, [0, 1], y, [1], [0]), rand(2, 3), rand(3),
     label="sublists")  # fmt: skip
case("inv", np.linalg.inv, well(3, 3))
case("inv", np.linalg.inv, well(2, 3, 3), label="stack")
case("inv", np.linalg.inv, well(3, 3, dtype="float32"), label="float32")
# NumPy 2 reads b as a vector only when b.ndim == 1: a batch of vectors is not one
case("solve", np.linalg.solve, well(3, 3), rand(3), label="vector")
case("solve", np.linalg.solve, well(3, 3), rand(3, 2), label="matrix")
case("solve", np.linalg.solve, well(2, 3, 3), rand(3), label="stack-vector")
case("solve", np.linalg.solve, well(2, 3, 3), rand(3, 1), label="stack-matrix")
case("solve", np.linalg.solve, well(3, 3), rand(2, 3, 2), label="matrix-stack")
case("det", np.linalg.det, well(3, 3))
case("det", np.linalg.det, well(2, 3, 3), label="stack")
case("slogdet_sign", lambda a: np.linalg.slogdet(a)[0], rand(3, 3))
case("slogdet_logabsdet", lambda a: np.linalg.slogdet(a)[1], well(3, 3))
case("slogdet_logabsdet", lambda a: np.linalg.slogdet(a).logabsdet, well(2, 3, 3), label="stack")
case("pinv", np.linalg.pinv, well(3, 2), label="tall")
case("pinv", np.linalg.pinv, well(2, 3), label="wide")
case("pinv", lambda a: np.linalg.pinv(a, hermitian=True), sym_well(3, 3), label="hermitian")
case("cholesky", np.linalg.cholesky, sym_well(3, 3))
case("cholesky", lambda a: np.linalg.cholesky(a, upper=True), sym_well(2, 3, 3),
     label="upper-stack")  # fmt: skip
case("eigh_values", np.linalg.eigvalsh, sym_well(3, 3))
case("eigh_values", lambda a: np.linalg.eigh(a)[0], sym_well(2, 3, 3), label="stack")
case("eigh_vectors", lambda a: np.linalg.eigh(a)[1], sym_well(3, 3))
case("eigh_vectors", lambda a: np.linalg.eigh(a, UPLO="U").eigenvectors, sym_well(2, 3, 3),
     label="upper-stack")  # fmt: skip
case("svd_s", lambda a: np.linalg.svd(a, compute_uv=False), well(3, 2), label="tall")
case("svd_s", np.linalg.svdvals, well(2, 2, 3), label="wide-stack")
case("svd_u", lambda a: np.linalg.svd(a, full_matrices=False)[0], well(3, 2), label="tall")
case("svd_u", lambda a: np.linalg.svd(a)[0], well(2, 3, 3), label="stack")
case("svd_vh", lambda a: np.linalg.svd(a, full_matrices=False).Vh, well(2, 3), label="wide")
case("svd_vh", lambda a: np.linalg.svd(a).Vh, well(2, 3, 3), label="stack")
case("qr_q", lambda a: np.linalg.qr(a)[0], well(3, 2), label="tall")
case("qr_q", lambda a: np.linalg.qr(a).Q, well(2, 3, 3), label="stack")
case("qr_r", lambda a: np.linalg.qr(a).R, well(2, 3), label="wide")
case("qr_r", lambda a: np.linalg.qr(a, mode="complete").R, well(3, 2), label="complete")
case("expm", lambda a: expm(a), rand(3, 3, low=-0.5, high=0.5))
case("expm", lambda a: expm(a), rand(2, 3, 3, low=-3.0, high=3.0), label="squaring")


# ----- the checks -----
POSITIONS = {"first": lambda r: 0, "middle": lambda r: (r + 1) // 2, "last": lambda r: r}


def _variants(n: int) -> list[tuple[bool, ...]]:
    """Which arguments are mapped: all of them, then each one alone."""
    out = [(True,) * n]
    if n > 1:
        out += [tuple(k == j for k in range(n)) for j in range(n)]
    return out


def _close(got, expected, what: str):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (
        f"{what}: {got.dtype}{list(got.shape)} != {expected.dtype}{list(expected.shape)}"
    )
    if expected.dtype.kind == "f":
        tol = 1e-5 if expected.dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_declares_a_batching_rule_checked_here(name):
    assert callable(PRIMITIVES[name].batch), (
        f"primitive {name} declares no batching rule: give its declaration a batch= fact "
        "(tracer/primitives/batching.py describes the interface and has shared rules)"
    )
    assert any(c.op == name for c in CASES), f"no vmap case exercises primitive {name}: add one"


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_batching_rule_equals_a_loop(c: Case, position: str):
    examples = [c.example(seed) for seed in range(BATCH)]
    assert c.op in {d["op"] for _, d in trace(c.fn).trace(*examples[0]).nodes(data=True)}
    out0 = np.asarray(c.fn(*examples[0]))
    floats = tuple(k for k, a in enumerate(examples[0]) if a.dtype.kind == "f")
    differentiable = out0.dtype.kind == "f" and floats

    def h(*args):
        return np.sum(np.sin(c.fn(*args)))

    for mapped in _variants(len(c.makers)):
        axes = tuple(
            POSITIONS[position](np.ndim(a)) if m else None for a, m in zip(examples[0], mapped)
        )
        batched = tuple(
            np.stack([ex[k] for ex in examples], axis=a) if a is not None else examples[0][k]
            for k, a in enumerate(axes)
        )
        # the same arguments, example by example (a shared argument is example 0's)
        each = [tuple(ex[k] if a is not None else examples[0][k] for k, a in enumerate(axes))
                for ex in examples]  # fmt: skip
        expected = np.stack([np.asarray(c.fn(*args)) for args in each])
        _close(vmap(c.fn, in_axes=axes)(*batched), expected, f"values, in_axes={axes}")
        if not differentiable:
            continue
        loop = [grad(h, argnums=floats)(*args) for args in each]
        per_example = vmap(grad(h, argnums=floats), in_axes=axes)(*batched)
        for k, got in zip(floats, per_example):
            want = np.stack([g[floats.index(k)] for g in loop])
            _close(got, want, f"vmap(grad) wrt argument {k}, in_axes={axes}")

        def through(*args, axes=axes):
            return np.sum(np.sin(vmap(c.fn, in_axes=axes)(*args)))

        total = grad(through, argnums=floats)(*batched)
        for k, got in zip(floats, total):
            parts = [g[floats.index(k)] for g in loop]
            want = np.stack(parts, axis=axes[k]) if axes[k] is not None else np.sum(parts, 0)
            _close(got, want, f"grad(vmap) wrt argument {k}, in_axes={axes}")


# ----- linear algebra under composed transformations -----


def test_per_example_gradients_of_logabsdet_equal_a_loop_and_the_inverse_transpose():
    mats = np.stack([well(3, 3)(np.random.default_rng(seed)) for seed in range(4)])

    def logabsdet(a):
        return np.linalg.slogdet(a)[1]

    got = vmap(grad(logabsdet))(mats)
    _close(got, np.stack([grad(logabsdet)(a) for a in mats]), "vmap(grad(logabsdet))")
    _close(got, np.swapaxes(np.linalg.inv(mats), -1, -2), "d logabsdet / dA = A^-T")
    _close(vmap(grad(logabsdet), in_axes=2)(np.moveaxis(mats, 0, 2)), got, "in_axes=2")


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_through_solve_is_one_batched_pass_equal_to_central_differences(mode):
    def f(a, b):
        return np.linalg.solve(a, np.tanh(b)) * 2.0

    rng = np.random.default_rng(7)
    jac = jacobian(f, argnums=(0, 1), mode=mode)
    small = jac.trace(well(3, 3)(rng), rand(3)(rng)).number_of_nodes()
    a, b = well(5, 5)(rng), rand(5)(rng)
    assert jac.trace(a, b).number_of_nodes() == small  # batched: not one pass per seed
    ja, jb = jac(a, b)
    assert ja.shape == (5, 5, 5) and jb.shape == (5, 5)
    for i in range(5):
        na, nb = numerical_grad(lambda a, b, i=i: f(a, b)[i], a, b, argnums=(0, 1))
        np.testing.assert_allclose(ja[i], na, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(jb[i], nb, rtol=1e-6, atol=1e-8)
