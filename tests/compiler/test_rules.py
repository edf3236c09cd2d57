"""The derivative table: every differentiable primitive has one rule, each rule is right.

One table of ``Case(op, fn, args)``: ``fn`` is plain NumPy code whose traced graph
contains a node of ``op``. Each case is checked against central differences to
second order (``check_grad(..., order=2)``), and its forward-mode (jvp) rule
against its reverse-mode (vjp) rule: ``<u, J v> == <J^T u, v>``. The values at
kinks are the ones docs/derivatives.md documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from custom_testing import sin_times, softplus

from compiler import build_grad_graph, check_grad, grad, jvp, value_and_grad, vjp
from tracer import PRIMITIVES, evaluate, ops, trace, validate
from tracer.primitives import special
from tracer.scipy import special as traced_special

try:
    import scipy.special as sc
except ImportError:  # SciPy is optional
    sc = None

pytestmark = pytest.mark.usefixtures("validated_graphs")


def rand(*shape, low=-2.0, high=2.0, seed=0) -> np.ndarray:
    """A deterministic float64 array (0-d when ``shape`` is empty)."""
    return np.asarray(np.random.default_rng(seed).uniform(low, high, size=shape))


def pos(*shape, seed=0) -> np.ndarray:
    """Positive values, away from 0 (for log, sqrt, reciprocal, div, pow)."""
    return rand(*shape, low=0.5, high=2.0, seed=seed)


@dataclass(frozen=True)
class Case:
    op: str  # the primitive this case exercises
    fn: Any  # plain NumPy code
    args: tuple
    label: str = ""
    tol: dict = field(default_factory=dict)  # check_grad tolerances, when not the defaults

    @property
    def id(self) -> str:
        shapes = ",".join(str(list(np.shape(a))) for a in self.args)
        return f"{self.op}-{self.label}{shapes}"


CASES: list[Case] = []


def case(op, fn, *args, label="", **tol):
    CASES.append(Case(op, fn, args, label, tol))


# ----- unary elementwise -----
UNARY = {
    "neg": (np.negative, rand),
    "exp": (np.exp, rand),
    "log": (np.log, pos),
    "sin": (np.sin, rand),
    "cos": (np.cos, rand),
    "tan": (np.tan, lambda *s, seed=0: rand(*s, low=-1.0, high=1.0, seed=seed)),
    "tanh": (np.tanh, rand),
    "arctan": (np.arctan, lambda *s, seed=0: rand(*s, low=-4.0, high=4.0, seed=seed)),
    "sqrt": (np.sqrt, pos),
    "abs": (np.abs, rand),
    "square": (np.square, rand),
    "reciprocal": (np.reciprocal, pos),
    "log1p": (np.log1p, pos),
    "expm1": (np.expm1, rand),
}
for op, (ufunc, gen) in UNARY.items():
    for shape in [(), (3,), (2, 3)]:
        case(op, ufunc, gen(*shape, seed=len(shape)))


# ----- the parts of a complex number (their JAX numbers are in test_complex.py) -----
def crand(*shape, seed=0) -> np.ndarray:
    """A deterministic complex128 array, its entries away from 0."""
    r = rand(*shape, low=0.5, high=2.0, seed=seed)
    return r * np.exp(1j * rand(*shape, low=-3.0, high=3.0, seed=seed + 100))


for shape in [(), (3,), (2, 3)]:
    for op, fn in [("real", np.real), ("imag", np.imag), ("conj", np.conj), ("angle", np.angle),
                   ("abs", np.abs), ("sign", np.sign)]:  # fmt: skip
        case(op, fn, crand(*shape, seed=len(shape)), label="complex")
case("imag", lambda z, x: np.imag(z * x), crand(2, 3, seed=3), rand(3, seed=4), label="mixed")
case("angle", lambda z: np.angle(z, deg=True), crand(3, seed=5), label="deg")

# ----- binary elementwise (broadcasting and 0-d) -----
BINARY = {
    "add": (np.add, rand, rand),
    "sub": (np.subtract, rand, rand),
    "mul": (np.multiply, rand, rand),
    "div": (np.divide, rand, pos),
    "pow": (np.power, pos, rand),
    "maximum": (np.maximum, rand, rand),
    "minimum": (np.minimum, rand, rand),
}
BINARY_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]
for op, (ufunc, gen0, gen1) in BINARY.items():
    for s0, s1 in BINARY_SHAPES:
        case(op, ufunc, gen0(*s0, seed=1), gen1(*s1, seed=2))
case("pow", lambda x: x**3, rand(2, 3), label="int-exponent")
case("pow", lambda x: 2.0**x, rand(3), label="const-base")

# ----- selection and casts -----
case("where", lambda x, y: np.where(x > 0, x, y), rand(2, 3, seed=3), rand(3, seed=4))
case("where", lambda x: np.where(x > 0, np.sin(x), np.cos(x)), rand(4, seed=5))
case("where", lambda x, y: np.where(x > y, x * y, 2.0), rand(seed=6), rand(2, 2, seed=7))
case("clip", lambda x: np.clip(x, -0.5, 0.5), rand(3, 4, seed=8))
case("clip", lambda x: np.clip(x, None, 0.3), rand(5, seed=9), label="upper")
case("clip", lambda x: np.clip(x, -0.3, None), rand(seed=10), label="lower")
# float64 -> float32 -> float64: the step must dwarf float32 rounding
case("astype", lambda x: np.sin(x.astype(np.float32)).astype(np.float64), rand(3, seed=11),
     eps=1e-3, rtol=2e-3, atol=2e-3)  # fmt: skip

# ----- reductions -----
for op, fn in [("sum", np.sum), ("max", np.max), ("min", np.min)]:
    case(op, lambda x, fn=fn: fn(x), rand(seed=12), label="all")
    case(op, lambda x, fn=fn: fn(x), rand(2, 3, seed=13), label="all")
    case(op, lambda x, fn=fn: fn(x, axis=0), rand(3, 4, seed=14), label="axis0")
    case(op, lambda x, fn=fn: fn(x, axis=(0, 2), keepdims=True), rand(2, 3, 2, seed=15),
         label="keepdims")  # fmt: skip
    case(op, lambda x, fn=fn: fn(x, axis=-1) * x[..., 0], rand(2, 3, seed=16), label="reuse")

# ----- scans, prod, sorting (every keyword, zeros and ties: test_rules_arrays.py) -----
for op, fn in [("cumsum", np.cumsum), ("cumprod", np.cumprod), ("prod", np.prod),
               ("sort", np.sort), ("median", np.median)]:  # fmt: skip
    case(op, lambda x, fn=fn: fn(x, axis=1), rand(2, 4, seed=42), label="axis1")
    case(op, lambda x, fn=fn: fn(x, axis=0) * x[0], rand(3, 2, seed=43), label="reuse")
case("partition", lambda x: np.partition(x, 2, axis=0) ** 2, rand(5, 2, seed=44))

# ----- shape ops -----
case("reshape", lambda x: np.reshape(x, (3, 2)) * np.arange(6.0).reshape(3, 2), rand(2, 3))
case("reshape", lambda x: np.reshape(x, (1, 1)), rand(seed=17), label="0d")
case("transpose", lambda x: np.transpose(x, (2, 0, 1)) ** 2, rand(2, 3, 4, seed=18))
case("transpose", lambda x, y: x.T @ y, rand(3, 2, seed=19), rand(3, seed=20), label="T")
case("broadcast_to", lambda x: np.sin(np.broadcast_to(x, (2, 3))), rand(3, seed=21))
case("broadcast_to", lambda x: np.broadcast_to(x, (4,)) ** 2, rand(seed=22), label="0d")
case("squeeze", lambda x: np.squeeze(x, 1) ** 2, rand(2, 1, 3, seed=23))
case("expand_dims", lambda x: np.expand_dims(x, 0) * np.ones((2, 1)), rand(3, seed=24))
case("concatenate", lambda x, y: np.concatenate([x, y, x], axis=1) ** 2, rand(2, 2, seed=25),
     rand(2, 3, seed=26))  # fmt: skip
case("stack", lambda x, y: np.stack([x, y], axis=1) ** 3, rand(3, seed=27), rand(3, seed=28))
case("stack", lambda x, y: np.stack([x, y]) * 2.0, rand(seed=29), rand(seed=30), label="0d")
case("getitem", lambda x: x[1:, ::2] ** 2, rand(3, 4, seed=31), label="slice")
case("getitem", lambda x: x[1] ** 3, rand(3, 2, seed=32), label="int")
case("getitem", lambda x: x[[0, 2, 0, 0]] ** 2, rand(3, seed=33), label="repeated")
case("getitem", lambda x: x[:, np.array([[1, 1], [0, 2]])] ** 2, rand(2, 3, seed=34),
     label="array2d")  # fmt: skip
case("getitem", lambda x: x[None, ..., 0] ** 2, rand(2, 3, seed=35), label="newaxis")
# scatter_add is getitem's adjoint: it appears in (and is differentiated through) gradients
case("scatter_add", lambda x: grad(lambda z: np.sum(np.sin(z[[0, 2, 2]]) ** 2))(x),
     rand(4, seed=36))  # fmt: skip
case("scatter_add", lambda x: grad(lambda z: np.sum(z[:, 1:] ** 3))(x), rand(2, 3, seed=37),
     label="slice")  # fmt: skip

# ----- linear algebra -----
MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)),
                 ((2, 2, 3), (3, 2)), ((3,), (2, 3, 4)), ((2, 1, 2, 3), (2, 3, 2))]  # fmt: skip
for s0, s1 in MATMUL_SHAPES:
    case("matmul", np.matmul, rand(*s0, seed=38), rand(*s1, seed=39))
case("matmul", lambda x, w: np.dot(x, w), rand(4, 3, seed=40), rand(3, 2, seed=41), label="dot")


# ----- einsum and np.linalg (tests/compiler/test_linalg_rules.py: composites, float32, kinks) --


def spd(*shape, seed=0):
    """A well-conditioned matrix (stack) with singular values (and, for a square one, the
    eigenvalues of its symmetric part) far apart."""
    m, n = shape[-2:]
    return rand(*shape, seed=seed) * 0.3 + np.eye(m, n) * np.arange(1.0, n + 1)


def sym(x):
    return (x + np.swapaxes(x, -1, -2)) / 2  # eigh and cholesky read one triangle


case("einsum", lambda x, y: np.einsum("ij,jk->ik", x, y), rand(2, 3, seed=42), rand(3, 4, seed=43))
case("einsum", lambda x: np.einsum("ii->i", x) ** 2, rand(3, 3, seed=44), label="diagonal")
case("einsum", lambda x, y: np.einsum("...i,...j", x, y), rand(2, 3, seed=45), rand(4, seed=46),
     label="ellipsis")  # fmt: skip
case("inv", np.linalg.inv, spd(3, 3, seed=47))
case("solve", np.linalg.solve, spd(2, 3, 3, seed=48), rand(3, 2, seed=49))
case("solve", np.linalg.solve, spd(3, 3, seed=50), rand(3, seed=51), label="vector")
case("det", np.linalg.det, rand(2, 3, 3, seed=52))
case("slogdet_logabsdet", lambda x: np.linalg.slogdet(x)[1], rand(3, 3, seed=53))
case("pinv", np.linalg.pinv, rand(3, 4, seed=54))
case("pinv", np.linalg.pinv, rand(2, 4, 3, seed=55), label="tall")
case("cholesky", lambda x: np.linalg.cholesky(sym(x)), spd(2, 3, 3, seed=56))
case("cholesky", lambda x: np.linalg.cholesky(sym(x), upper=True), spd(3, 3, seed=57),
     label="upper")  # fmt: skip
case("eigh_values", lambda x: np.linalg.eigvalsh(sym(x)), spd(2, 3, 3, seed=58))
case("eigh_vectors", lambda x: np.linalg.eigh(sym(x))[1] ** 2, spd(3, 3, seed=59))
case("svd_s", lambda x: np.linalg.svd(x, compute_uv=False), rand(2, 3, 4, seed=60))
case("svd_u", lambda x: np.linalg.svd(x, full_matrices=False)[0] ** 2, spd(4, 3, seed=61))
case("svd_u", lambda x: np.linalg.svd(x)[0] ** 2, spd(3, 4, seed=62), label="wide")
case("svd_vh", lambda x: np.linalg.svd(x, full_matrices=False)[2] ** 2, spd(3, 4, seed=63))
case("svd_vh", lambda x: np.linalg.svd(x)[2] ** 2, spd(2, 4, 3, seed=64), label="tall")
case("qr_q", lambda x: np.linalg.qr(x)[0], rand(4, 3, seed=65))
case("qr_q", lambda x: np.linalg.qr(x).Q, rand(2, 3, 4, seed=66), label="wide")
case("qr_r", lambda x: np.linalg.qr(x)[1], rand(2, 4, 3, seed=67))
case("qr_r", lambda x: np.linalg.qr(x, mode="r"), rand(3, 4, seed=68), label="wide")


def _expm(x):
    from tracer.scipy.linalg import expm  # a twin of scipy.linalg.expm: no NumPy spelling

    return expm(x)


case("expm", _expm, rand(3, 3, seed=69) * 0.5)
case("expm", _expm, rand(2, 2, 2, seed=70) * 2.0, label="squarings")


# ----- custom rules and the recomputation barrier (tracer.primitives.markers) -----


case("custom_vjp_call", sin_times, rand(3, seed=42), rand(3, seed=43))
case("custom_vjp_call", sin_times, rand(2, 3, seed=44), rand(2, 3, seed=45), label="2d")
case("custom_jvp_call", softplus, rand(seed=46))
case("custom_jvp_call", lambda x: softplus(x) * x, rand(2, 3, seed=47), label="reuse")
case("after", lambda x, t: ops.after(np.sin(x), t) * t, rand(3, seed=48), rand(3, seed=49))


# ----- elementwise math (elementwise_math.py) -----
def within(low, high):
    return lambda *shape, seed=0: rand(*shape, low=low, high=high, seed=seed)


MATH_UNARY = {
    "arcsin": (np.arcsin, within(-0.9, 0.9)),
    "arccos": (np.arccos, within(-0.9, 0.9)),
    "arcsinh": (np.arcsinh, rand),
    "arccosh": (np.arccosh, within(1.2, 3.0)),
    "arctanh": (np.arctanh, within(-0.9, 0.9)),
    "sinc": (np.sinc, within(-2.5, 2.5)),
    "cbrt": (np.cbrt, rand),
    "deg2rad": (np.deg2rad, rand),
    "rad2deg": (np.rad2deg, rand),
}
MATH_BINARY = {
    "arctan2": (np.arctan2, rand, rand),
    "remainder": (np.remainder, within(-3.0, 3.0), pos),
    "fmod": (np.fmod, within(-3.0, 3.0), pos),
    "logaddexp": (np.logaddexp, rand, rand),
    "logaddexp2": (np.logaddexp2, rand, rand),
    "fmax": (np.fmax, rand, rand),
    "fmin": (np.fmin, rand, rand),
    "copysign": (np.copysign, rand, rand),
    "heaviside": (lambda x0, x1: np.heaviside(np.round(x0), x1), rand, rand),
    "float_power": (np.float_power, pos, rand),
}
MATH_CASES: list[Case] = []
for op, (fn, gen) in MATH_UNARY.items():
    for shape in [(), (3,), (2, 3)]:
        MATH_CASES.append(Case(op, fn, (gen(*shape, seed=len(shape)),)))
for op, (fn, gen0, gen1) in MATH_BINARY.items():
    for s0, s1 in BINARY_SHAPES:
        MATH_CASES.append(Case(op, fn, (gen0(*s0, seed=1), gen1(*s1, seed=2))))
MATH_CASES.append(Case("sinc", np.sinc, (rand(5, low=-0.2, high=0.2, seed=3),), "series"))
MATH_CASES.append(Case("remainder", lambda x: x % 0.7 + 2.5 % (x + 3.0), (rand(4, seed=4),), "op"))
CASES += MATH_CASES

# ----- SciPy's special functions (special.py) -----
SPECIAL_CASES: list[Case] = []
if sc is not None:
    SPECIAL_UNARY = {
        "expit": (sc.expit, rand), "logit": (sc.logit, within(0.1, 0.9)),
        "erf": (sc.erf, rand), "erfc": (sc.erfc, rand), "erfinv": (sc.erfinv, within(-0.9, 0.9)),
        "gammaln": (sc.gammaln, within(0.3, 5.0)), "digamma": (sc.digamma, within(0.3, 5.0)),
        "polygamma": (lambda x: traced_special.polygamma(2, x), within(0.5, 4.0)),
        "ndtr": (sc.ndtr, rand), "log_ndtr": (sc.log_ndtr, within(-8.0, 3.0)),
        "entr": (sc.entr, within(0.1, 3.0)), "i0e": (sc.i0e, within(-4.0, 4.0)),
        "i1e": (sc.i1e, within(-4.0, 4.0)),
    }  # fmt: skip
    SPECIAL_BINARY = {
        "betaln": (sc.betaln, within(0.3, 4.0), within(0.3, 4.0)),
        "xlogy": (sc.xlogy, rand, pos),
        "xlog1py": (sc.xlog1py, rand, within(-0.5, 2.0)),
        "rel_entr": (sc.rel_entr, pos, pos),
    }
    for op, (fn, gen) in SPECIAL_UNARY.items():
        for shape in [(), (3,), (2, 3)]:
            SPECIAL_CASES.append(Case(op, fn, (gen(*shape, seed=len(shape)),)))
    for op, (fn, gen0, gen1) in SPECIAL_BINARY.items():
        for s0, s1 in BINARY_SHAPES:
            SPECIAL_CASES.append(Case(op, fn, (gen0(*s0, seed=1), gen1(*s1, seed=2))))
    SPECIAL_CASES.append(Case("log_ndtr", sc.log_ndtr, (rand(3, low=-40.0, high=-20.0),), "tail"))
    SPECIAL_CASES.append(Case("i1e", sc.i1e, (rand(4, low=-0.01, high=0.01),), "near0"))
CASES += SPECIAL_CASES


def _ops(case: Case) -> set[str]:
    graph = trace(case.fn).trace(*case.args)
    validate(graph)
    return {graph.nodes[n]["op"] for n in graph.nodes}


# ----- the table -----


DIFFERENTIABLE = {name for name, p in PRIMITIVES.items() if p.differentiable}
if sc is None:  # SciPy is optional: without it, its special functions are not checked
    DIFFERENTIABLE -= {p.name for p in special.PRIMITIVES}


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_declares_both_rules_or_a_zero_gradient(name):
    p = PRIMITIVES[name]
    if p.zero_grad:
        assert p.vjp is None and p.jvp is None
    else:
        assert callable(p.vjp) and callable(p.jvp)


def test_non_differentiable_primitives_declare_a_zero_gradient():
    # (sign is piecewise constant on reals only: sign(z) = z / |z| has a derivative)
    for name in ["floor", "ceil", "round", "less", "equal", "argmax", "logical_and"]:
        assert not PRIMITIVES[name].differentiable and PRIMITIVES[name].zero_grad


def test_cases_exercise_every_rule():
    covered = set()
    for c in CASES:
        ops = _ops(c)
        assert c.op in ops, f"case {c.id} does not trace to {c.op}: {sorted(ops)}"
        covered |= ops
    assert covered >= DIFFERENTIABLE


# ----- every rule against central differences, to second order -----


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_grad_matches_central_differences(c: Case):
    check_grad(c.fn, *c.args, order=2, **c.tol)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_jvp_consistent_with_vjp(c: Case):
    rng = np.random.default_rng(42)
    tangents = tuple(_random_like(a, rng) for a in c.args)
    out, t_out = jvp(c.fn, c.args, tangents)
    expected = np.asarray(c.fn(*c.args))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert np.shape(t_out) == expected.shape
    out2, vjp_fn = vjp(c.fn, *c.args)
    np.testing.assert_allclose(out2, expected, rtol=1e-12, atol=1e-12)
    u = _random_like(expected, rng)
    cts = vjp_fn(u)
    assert len(cts) == len(c.args)
    for ct, a in zip(cts, c.args):
        assert np.shape(ct) == np.shape(a)
    # the pairing Re(sum(a * b)): vjp is jvp's transpose for it (JAX's complex convention)
    lhs = np.real(np.sum(u * t_out))
    rhs = sum(np.real(np.sum(ct * t)) for ct, t in zip(cts, tangents))
    tol = 1e-5 if c.tol else 1e-10  # cases with their own tolerances go through float32
    np.testing.assert_allclose(lhs, rhs, rtol=tol, atol=tol)


def _random_like(a, rng):
    """Random numbers shaped like ``a``, complex for a complex ``a``."""
    v = rng.standard_normal(np.shape(a))
    return v + 1j * rng.standard_normal(np.shape(a)) if np.iscomplexobj(a) else v


# ----- values at kinks (docs/derivatives.md) -----


def test_abs_at_zero_is_zero():
    assert grad(np.abs)(0.0) == 0.0
    np.testing.assert_array_equal(
        grad(lambda x: np.sum(np.abs(x)))(np.array([-2.0, 0.0, 3.0])), [-1.0, 0.0, 1.0]
    )


@pytest.mark.parametrize("fn", [np.maximum, np.minimum])
def test_maximum_minimum_ties_split_evenly(fn):
    assert grad(fn, argnums=(0, 1))(1.5, 1.5) == (0.5, 0.5)
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([2.0, 2.0, 2.0])
    gx, gy = grad(lambda a, b: np.sum(fn(a, b)), argnums=(0, 1))(x, y)
    wins = [0.0, 0.5, 1.0] if fn is np.maximum else [1.0, 0.5, 0.0]
    np.testing.assert_array_equal(gx, wins)
    np.testing.assert_array_equal(gy, 1.0 - np.array(wins))


def test_maximum_with_zero_has_slope_half_at_zero():
    assert grad(lambda x: np.maximum(x, 0.0))(0.0) == 0.5
    assert grad(lambda x: np.maximum(x, 0.0))(-1.0) == 0.0
    assert grad(lambda x: np.maximum(x, 0.0))(1.0) == 1.0


def test_relu_via_where_is_zero_at_zero():
    relu = lambda x: np.sum(np.where(x > 0, x, 0.0))
    np.testing.assert_array_equal(grad(relu)(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("fn", [np.max, np.min])
def test_extremum_reduction_splits_ties_evenly(fn):
    x = np.array([1.0, 3.0, 3.0]) if fn is np.max else np.array([3.0, 1.0, 1.0])
    hit = [0.0, 0.5, 0.5]
    np.testing.assert_array_equal(grad(fn)(x), hit)
    np.testing.assert_allclose(grad(fn)(np.full(3, 2.0)), [1 / 3] * 3)
    m = np.array([[1.0, 1.0, 0.0], [2.0, 0.0, 5.0]]) * (1 if fn is np.max else -1)
    g = grad(lambda a: np.sum(fn(a, axis=1) * np.array([1.0, 2.0])))(m)
    np.testing.assert_array_equal(g, [[0.5, 0.5, 0.0], [0.0, 0.0, 2.0]])


def test_clip_at_bound_is_one():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(
        grad(lambda a: np.sum(np.clip(a, -1.0, 1.0)))(x), [0.0, 1.0, 1.0, 1.0, 0.0]
    )
    np.testing.assert_array_equal(grad(lambda a: np.sum(np.clip(a, 0.0, None)))(x), [0, 0, 1, 1, 1])


def test_clip_with_array_bounds_is_maximum_minimum():
    # array bounds make clip the composite minimum(maximum(x, lo), hi): 1/2 at a bound
    lo, hi = np.zeros(3), np.ones(3)
    g = grad(lambda a: np.sum(np.clip(a, lo, hi)))(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(g, [0.5, 1.0, 0.5])


def test_where_passes_zero_to_the_unselected_branch():
    # 0 * sqrt'(0) = 0 * inf = nan, as in JAX: guard the argument too ("double where")
    with np.errstate(all="ignore"):
        assert np.isnan(grad(lambda x: np.where(x > 0, np.sqrt(x), 0.0))(0.0))
    safe = lambda x: np.where(x > 0, np.sqrt(np.where(x > 0, x, 1.0)), 0.0)
    assert grad(safe)(0.0) == 0.0
    assert grad(safe)(4.0) == 0.25


@pytest.mark.parametrize(
    "fn",
    [np.floor, np.ceil, np.round, np.sign, lambda x: np.round(x, 1)],
    ids=["floor", "ceil", "round", "sign", "round1"],
)
def test_piecewise_constant_ops_have_zero_gradient(fn):
    x = np.array([-1.5, -0.2, 0.0, 0.7, 2.5])
    np.testing.assert_array_equal(grad(lambda a: np.sum(fn(a)))(x), np.zeros(5))
    # in a product only the differentiable factor contributes: d/dx [fn(x) * x] = fn(x)
    np.testing.assert_array_equal(grad(lambda a: np.sum(fn(a) * a))(x), fn(x))


@pytest.mark.parametrize(
    "cmp",
    [np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal],
)
def test_comparisons_have_zero_gradient(cmp):
    x = np.array([-1.0, 0.0, 2.0])
    g = grad(lambda a: np.sum(cmp(a, 0.0).astype(np.float64) * 3.0))(x)
    np.testing.assert_array_equal(g, np.zeros(3))
    g = grad(lambda a: np.sum(np.where(cmp(a, 0.0), a, -a)))(x)
    expected = np.where(cmp(x, 0.0), 1.0, -1.0)
    np.testing.assert_array_equal(g, expected)


def test_argmax_argmin_carry_no_gradient_but_select():
    x = np.array([1.0, 5.0, 2.0])
    np.testing.assert_array_equal(grad(lambda a: a[np.argmax(a)])(x), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(grad(lambda a: a[np.argmin(a)] * 2.0)(x), [2.0, 0.0, 0.0])


def test_logical_ops_have_zero_gradient():
    x = np.array([-1.0, 0.5, 2.0])
    f = lambda a: np.sum(np.where(np.logical_and(a > 0, np.logical_not(a > 1)), a * a, 0.0))
    np.testing.assert_array_equal(grad(f)(x), [0.0, 1.0, 0.0])


def test_values_at_singular_points():
    with np.errstate(divide="ignore"):
        assert grad(np.sqrt)(0.0) == np.inf
        assert grad(np.log)(0.0) == np.inf
    # d/db 0**b is taken as 0 (log(0) * 0 would be nan), as JAX does
    assert grad(lambda b: 0.0**b)(2.0) == 0.0
    assert grad(lambda x: x**2.0)(0.0) == 0.0
    # d/dx x**y is taken as 0 where y == 0 (0 * 0**-1 would be nan), as JAX and PyTorch do
    assert grad(lambda x, y: x**y)(0.0, 0.0) == 0.0
    assert grad(lambda x, y: x**y)(2.0, 0.0) == 0.0
    raw = build_grad_graph(trace(lambda x: x**0.0).trace(0.0))  # unoptimised graph
    assert evaluate(raw, 0.0) == (1.0, 0.0)
    f = lambda x: x**3
    for _ in range(4):
        f = grad(f)
    assert f(0.0) == 0.0 and f(1.5) == 0.0


def test_kink_values_in_forward_mode_match():
    # jvp uses the same partial derivatives as vjp at the kinks
    assert jvp(np.abs, (0.0,), (1.0,))[1] == 0.0
    assert jvp(lambda x: np.maximum(x, 0.0), (0.0,), (1.0,))[1] == 0.5
    assert jvp(lambda x: np.clip(x, -1.0, 1.0), (1.0,), (1.0,))[1] == 1.0
    assert jvp(np.max, (np.array([3.0, 3.0]),), (np.array([1.0, 0.0]),))[1] == 0.5
    assert jvp(np.floor, (0.5,), (1.0,))[1] == 0.0


def test_value_and_grad_of_a_rule_heavy_function():
    f = lambda x: np.sum(np.maximum(np.abs(x), 0.5) * np.clip(x, -1.0, 1.0))
    x = np.array([-2.0, -0.5, 0.25, 0.75])
    value, g = value_and_grad(f)(x)
    assert value == pytest.approx(f(x))
    # |x| vs 0.5: -0.5 ties (split), 0.25 loses; clip is 1 inside, 0 outside
    expected = [
        -1.0 * -1.0,  # |x|=2 wins: sign(-2)*clip(-2)=(-1)(-1); clip grad 0 outside
        0.5 * -1.0 * -0.5 + 0.5,  # tie: half of sign * clip, plus max value * clip' (1)
        0.5,  # 0.5 wins: d = 0.5 * clip'(x) = 0.5
        1.0 * 0.75 + 0.75,  # |x| wins: sign * clip + |x| * 1
    ]
    np.testing.assert_allclose(g, expected)


# ----- float32 stays float32: elementwise math and SciPy's special functions -----


# (not log_ndtr's far tail: there its second derivative is a difference of two numbers near
# -x, which float32 cannot resolve)
@pytest.mark.parametrize(
    "c", [c for c in MATH_CASES + SPECIAL_CASES if c.label != "tail"], ids=lambda c: c.id
)
def test_float32_rules_stay_float32_and_match_central_differences(c: Case):
    args = tuple(np.asarray(a, dtype=np.float32) for a in c.args)
    argnums = tuple(range(len(args)))
    loss = lambda *a: np.sum(c.fn(*a))
    grads = grad(loss, argnums=argnums)(*args)
    assert all(g.dtype == np.float32 and g.shape == a.shape for g, a in zip(grads, args))
    graph = grad(loss, argnums=argnums).trace(*args)
    floats = {d["dtype"] for d in graph.nodes.values() if np.dtype(d["dtype"]).kind == "f"}
    # float_power computes in float64 by definition (as NumPy); its gradient is cast back
    assert floats == ({"float32", "float64"} if c.op == "float_power" else {"float32"})
    # a step float32 rounding cannot swamp (the gradient check casts gradients to float32)
    check_grad(c.fn, *args, order=2, eps=1e-3, rtol=2e-3, atol=2e-3)


# ----- values at kinks and singular points of elementwise math (docs/derivatives.md) -----


def test_remainder_and_fmod_take_the_branch_of_their_value():
    # at x0 = k * x1 the value is 0 (the branch just right of the jump): d/dx0 = 1, d/dx1 = -k
    for fn, k in [(np.remainder, 3.0), (np.fmod, 3.0)]:
        assert grad(fn, argnums=(0, 1))(1.5, 0.5) == (1.0, -k)
    assert grad(np.remainder, argnums=(0, 1))(-1.0, 0.75) == (1.0, 2.0)  # floor(-4/3) = -2
    assert grad(np.fmod, argnums=(0, 1))(-1.0, 0.75) == (1.0, 1.0)  # trunc(-4/3) = -1
    assert grad(lambda x: np.sum(x // 0.5))(np.array([0.2, 1.0])).tolist() == [0.0, 0.0]


def test_fmax_fmin_ties_split_and_nan_gives_all_to_the_other():
    for fn in (np.fmax, np.fmin):
        assert grad(fn, argnums=(0, 1))(1.5, 1.5) == (0.5, 0.5)
        assert grad(fn, argnums=(0, 1))(np.nan, 2.0) == (0.0, 1.0)
        assert grad(fn, argnums=(0, 1))(2.0, np.nan) == (1.0, 0.0)
    assert grad(np.fmax, argnums=(0, 1))(1.0, 2.0) == (0.0, 1.0)
    assert jvp(np.fmin, (1.5, 1.5), (1.0, 0.0))[1] == 0.5


def test_copysign_and_heaviside_at_zero():
    assert grad(np.copysign)(0.0, -1.0) == 0.0  # as abs'(0)
    assert grad(np.copysign, argnums=(0, 1))(2.0, -1.0) == (-1.0, 0.0)
    assert grad(np.copysign)(-2.0, -0.0) == 1.0  # -0.0 has its sign bit set
    assert grad(np.heaviside, argnums=(0, 1))(0.0, 0.3) == (0.0, 1.0)
    assert grad(np.heaviside, argnums=(0, 1))(0.5, 0.3) == (0.0, 0.0)


def test_sinc_is_smooth_at_zero():
    d1 = grad(np.sinc)
    d2 = grad(d1)
    assert d1(0.0) == 0.0
    np.testing.assert_allclose(d2(0.0), -(np.pi**2) / 3, rtol=1e-14)
    np.testing.assert_allclose(grad(d2)(0.0), 0.0, atol=1e-14)
    # the series and the closed form agree where they meet
    np.testing.assert_allclose(d1(0.2499999), d1(0.2500001), rtol=1e-5)


def test_values_at_singular_points_of_elementwise_math():
    with np.errstate(divide="ignore", invalid="ignore"):
        assert grad(np.cbrt)(0.0) == np.inf
        assert grad(np.arcsin)(1.0) == np.inf
        assert grad(np.arccos)(-1.0) == -np.inf
        assert grad(np.arccosh)(1.0) == np.inf
        assert grad(np.arctanh)(1.0) == np.inf
        assert np.isnan(grad(np.arctan2)(0.0, 0.0))
    for fn in (np.logaddexp, np.logaddexp2):  # (exp2 is exp(x ln 2): 1/2 to the last bit)
        assert grad(fn, argnums=(0, 1))(-np.inf, -np.inf) == pytest.approx((0.5, 0.5))
        assert grad(fn, argnums=(0, 1))(np.inf, np.inf) == pytest.approx((0.5, 0.5))
        assert grad(fn, argnums=(0, 1))(np.inf, 1.0) == (1.0, 0.0)
        assert grad(fn, argnums=(0, 1))(-np.inf, 1.0) == (0.0, 1.0)
        assert grad(fn, argnums=(0, 1))(2.0, 2.0) == pytest.approx((0.5, 0.5))


def test_predicates_and_nan_to_num():
    x = np.array([np.nan, np.inf, -np.inf, 1.5])
    g = grad(lambda a: np.sum(np.where(np.isfinite(a) & ~np.isnan(a) & ~np.isinf(a), a, 0.0)))
    np.testing.assert_array_equal(g(x), [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(grad(lambda a: np.sum(np.nan_to_num(a) * 2.0))(x), [0, 0, 0, 2])


@pytest.mark.skipif(sc is None, reason="SciPy is not installed")
def test_values_at_singular_points_of_special_functions():
    with np.errstate(divide="ignore", invalid="ignore"):
        assert grad(sc.logit)(0.0) == np.inf and grad(sc.logit)(1.0) == np.inf
        assert grad(sc.erfinv)(1.0) == np.inf
        assert grad(sc.entr)(0.0) == np.inf
        assert grad(sc.entr)(-1.0) == 0.0
    assert grad(sc.i0e)(0.0) == 0.0
    assert grad(sc.i1e)(0.0) == 0.5
    assert grad(sc.xlogy, argnums=(0, 1))(0.0, 0.0) == (-np.inf, 0.0)
    assert grad(sc.xlogy, argnums=1)(0.0, 2.0) == 0.0
    assert grad(sc.xlog1py, argnums=1)(0.0, -1.0) == 0.0
    assert grad(sc.rel_entr, argnums=(0, 1))(0.0, 2.0) == (-np.inf, 0.0)
    assert grad(sc.rel_entr, argnums=(0, 1))(-1.0, 2.0) == (0.0, 0.0)
    # log_ndtr's derivative far in the left tail, where ndtr underflows: about -x
    np.testing.assert_allclose(grad(sc.log_ndtr)(-40.0), 40.02498, rtol=1e-6)
