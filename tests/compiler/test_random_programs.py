"""Hypothesis: random programs over the primitive set, with broadcasting shapes, differentiate.

A program is a list of steps over a growing list of values (the inputs first);
each step applies one op from ``OPS`` (plain NumPy code, written so that values
stay in a moderate range and away from the domain edges of log, sqrt, ...). The
function under test returns a weighted sum of every computed value, so every
step's gradient is used and fan-out is common. Checked: the gradient against
central differences, jvp against vjp, the value against NumPy, and that every
gradient graph validates. Input values come from a seeded NumPy generator
rather than from hypothesis directly, so no input sits exactly on a kink.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from custom_testing import sin_times, softplus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import build_grad_graph, check_grad, grad, jvp, vjp
from tracer import PRIMITIVES, ops, trace, validate
from tracer.checkpointing import checkpoint
from tracer.primitives import special
from tracer.scipy import special as traced_special
from tracer.scipy.linalg import expm

try:
    import scipy.special as sc
except ImportError:  # SciPy is optional
    sc = None

pytestmark = pytest.mark.usefixtures("validated_graphs")

MAX_SIZE = 48  # elements per value: keeps central differences cheap

# name -> (arity, fn(a, b, param)); params are drawn by _draw_param
OPS = {
    # unary elementwise (composed with a squashing op where the domain needs it)
    "neg": (1, lambda a, b, p: -a),
    "sin": (1, lambda a, b, p: np.sin(a)),
    "cos": (1, lambda a, b, p: np.cos(a)),
    "tanh": (1, lambda a, b, p: np.tanh(a)),
    "arctan": (1, lambda a, b, p: np.arctan(a * 2.0)),
    "exp": (1, lambda a, b, p: np.exp(np.tanh(a))),
    "log": (1, lambda a, b, p: np.log(np.square(a) + 0.5)),
    "sqrt": (1, lambda a, b, p: np.sqrt(np.square(a) + 0.25)),
    "abs": (1, lambda a, b, p: np.abs(a)),
    "square": (1, lambda a, b, p: np.square(np.sin(a)) * 2.0),
    "reciprocal": (1, lambda a, b, p: np.reciprocal(np.square(a) + 1.0)),
    "log1p": (1, lambda a, b, p: np.log1p(np.square(a))),
    "expm1": (1, lambda a, b, p: np.expm1(np.sin(a))),
    "tan": (1, lambda a, b, p: np.tan(np.tanh(a))),
    "pow_const": (1, lambda a, b, p: (np.square(a) + 0.5) ** 1.5),
    "int_pow": (1, lambda a, b, p: np.tanh(a) ** 3),
    "clip": (1, lambda a, b, p: np.clip(a, -0.7, 0.7)),
    "relu": (1, lambda a, b, p: np.where(a > 0, a, 0.0)),
    "floor": (1, lambda a, b, p: np.floor(a * 2.0) * a),
    "sign": (1, lambda a, b, p: np.sign(a) * np.sin(a)),
    "round": (1, lambda a, b, p: np.round(a, 1) + a * 0.5),
    "select": (1, lambda a, b, p: np.where(a > 0.3, np.sin(a), np.cos(a))),
    "scale": (1, lambda a, b, p: a * 0.5 + 1.0),
    # the parts of a complex number, through a complex intermediate (angle stays in (-1, 1))
    "complex": (1, lambda a, b, p: _complex_parts(a)),
    # reductions
    "sum": (1, lambda a, b, p: np.sum(a, axis=p[0], keepdims=p[1])),
    "mean": (1, lambda a, b, p: np.mean(a, axis=p[0], keepdims=p[1])),
    "max": (1, lambda a, b, p: np.max(a, axis=p[0], keepdims=p[1])),
    "min": (1, lambda a, b, p: np.min(a, axis=p[0], keepdims=p[1])),
    "prod": (1, lambda a, b, p: np.prod(a, axis=p[0], keepdims=p[1])),
    "median": (1, lambda a, b, p: np.median(a, axis=p[0], keepdims=p[1])),
    # scans and sorting (along an axis)
    "cumsum": (1, lambda a, b, p: np.cumsum(a, axis=p)),
    "cumprod": (1, lambda a, b, p: np.cumprod(a, axis=p)),
    "sort": (1, lambda a, b, p: np.sort(a, axis=p)),
    "partition": (1, lambda a, b, p: np.partition(a, 0, axis=p)),
    # shape ops
    "transpose": (1, lambda a, b, p: np.transpose(a)),
    "reshape": (1, lambda a, b, p: np.reshape(a, p)),
    "broadcast": (1, lambda a, b, p: np.broadcast_to(np.expand_dims(a, 0), (2, *np.shape(a)))),
    "squeeze": (1, lambda a, b, p: np.squeeze(a, axis=p)),
    "reverse": (1, lambda a, b, p: a[::-1]),
    "gather": (1, lambda a, b, p: a[np.array(p)]),
    "take_last": (1, lambda a, b, p: a[..., -1]),
    "concatenate": (1, lambda a, b, p: np.concatenate([a, np.sin(a)], axis=p)),
    "stack": (1, lambda a, b, p: np.stack([a, a * 2.0], axis=p)),
    "gram": (1, lambda a, b, p: a @ np.swapaxes(a, -1, -2) if np.ndim(a) >= 2 else a @ a),
    # binary, with broadcasting
    "add": (2, lambda a, b, p: a + b),
    "sub": (2, lambda a, b, p: a - b),
    "mul": (2, lambda a, b, p: a * b),
    "div": (2, lambda a, b, p: a / (np.square(b) + 1.0)),
    "pow": (2, lambda a, b, p: (np.square(a) + 0.5) ** np.tanh(b)),
    "maximum": (2, lambda a, b, p: np.maximum(a, b)),
    "minimum": (2, lambda a, b, p: np.minimum(a, b)),
    "where": (2, lambda a, b, p: np.where(a > b, a * b, b)),
    # linear algebra on matrices made from the last axis (well conditioned, spectra apart)
    "einsum": (1, lambda a, b, p: np.einsum("...i,...j->...ij", _vec(a), np.sin(_vec(a)))),
    "einsum_trace": (1, lambda a, b, p: np.einsum("...ii", _mat(a))),
    "inv": (1, lambda a, b, p: np.linalg.inv(_mat(a))),
    "solve": (1, lambda a, b, p: np.linalg.solve(_mat(a), _vec(a)[..., None])),
    "det": (1, lambda a, b, p: np.linalg.det(_mat(a))),
    "slogdet": (1, lambda a, b, p: np.linalg.slogdet(_mat(a))[1]),
    "pinv": (1, lambda a, b, p: np.linalg.pinv(_mat(a))),
    "cholesky": (1, lambda a, b, p: np.linalg.cholesky(_sym(a))),
    "eigh": (1, lambda a, b, p: _eigh(_sym(a))),
    "svd": (1, lambda a, b, p: _svd(_mat(a))),
    "qr": (1, lambda a, b, p: np.linalg.qr(_mat(a))[0] + np.linalg.qr(_mat(a))[1]),
    "expm": (1, lambda a, b, p: expm(_mat(a) * 0.5)),
    # custom rules (exact, so central differences agree), checkpoint and its barrier
    "custom_vjp": (2, lambda a, b, p: sin_times(a + 0.0 * b, b + 0.0 * a)),
    "custom_jvp": (1, lambda a, b, p: softplus(a)),
    "checkpoint": (2, lambda a, b, p: _layer(a, b)),
    "after": (2, lambda a, b, p: ops.after(a, b) * 2.0),
    # elementwise math (elementwise_math.py)
    "arcsin": (1, lambda a, b, p: np.arcsin(np.tanh(a) * 0.9)),
    "arccos": (1, lambda a, b, p: np.arccos(np.tanh(a) * 0.9)),
    "arcsinh": (1, lambda a, b, p: np.arcsinh(a * 2.0)),
    "arccosh": (1, lambda a, b, p: np.arccosh(np.square(a) + 1.5)),
    "arctanh": (1, lambda a, b, p: np.arctanh(np.tanh(a) * 0.9)),
    "sinc": (1, lambda a, b, p: np.sinc(a)),
    "cbrt": (1, lambda a, b, p: np.cbrt(np.square(a) + 0.5)),
    "radians": (1, lambda a, b, p: np.deg2rad(a * 90.0) + np.rad2deg(a) * 0.01),
    "arctan2": (2, lambda a, b, p: np.arctan2(a, np.square(b) + 0.5)),
    "mod": (2, lambda a, b, p: a % (np.square(b) + 0.5) + np.fmod(a, 0.7)),
    "logaddexp": (2, lambda a, b, p: np.logaddexp(a, b) + np.logaddexp2(a, b)),
    "fmax": (2, lambda a, b, p: np.fmax(a, b) - np.fmin(a, b) * 0.5),
    "copysign": (2, lambda a, b, p: np.copysign(a, b)),
    "heaviside": (2, lambda a, b, p: np.heaviside(a, b) * np.sin(a)),
}
if sc is not None:  # SciPy's special functions (special.py), when SciPy is installed
    OPS.update({
        "expit": (1, lambda a, b, p: sc.expit(a * 2.0) + sc.logit(0.5 + 0.4 * np.tanh(a))),
        "erf": (1, lambda a, b, p: sc.erf(a) + sc.erfc(a * 0.5) + sc.erfinv(0.9 * np.tanh(a))),
        "gammaln": (1, lambda a, b, p: sc.gammaln(np.square(a) + 0.5) + sc.digamma(a * a + 1.0)),
        "polygamma": (1, lambda a, b, p: traced_special.polygamma(1, np.square(a) + 0.7)),
        "ndtr": (1, lambda a, b, p: sc.ndtr(a) + sc.log_ndtr(a * 2.0)),
        "entr": (1, lambda a, b, p: sc.entr(np.square(a) + 0.1) + sc.i0e(a) + sc.i1e(a)),
        "betaln": (2, lambda a, b, p: sc.betaln(np.square(a) + 0.5, np.square(b) + 0.5)),
        "xlogy": (2, lambda a, b, p: sc.xlogy(a, np.square(b) + 0.5) + sc.xlog1py(b, a * a)),
        "rel_entr": (2, lambda a, b, p: sc.rel_entr(np.square(a) + 0.1, np.square(b) + 0.1)),
    })  # fmt: skip


@checkpoint
def _layer(a, b):
    return np.tanh(np.sin(a * b) * np.exp(np.tanh(b)))


def _vec(a):
    return np.reshape(a, (1,)) if np.ndim(a) == 0 else a


def _mat(a):
    """A matrix per last-axis vector: distinct singular values, well conditioned."""
    v = _vec(a)
    n = v.shape[-1]
    spread = np.eye(n, dtype=v.dtype) * np.arange(1, n + 1, dtype=v.dtype)
    return spread + np.tanh(v[..., :, None] * np.sin(v)[..., None, :]) * 0.3


def _sym(a):
    m = _mat(a)
    return (m + np.swapaxes(m, -1, -2)) * 0.5


def _eigh(s):
    w, v = np.linalg.eigh(s)
    return w[..., None, :] * v**2  # squares: eigenvectors are defined up to sign


def _svd(m):
    u, s, vh = np.linalg.svd(m)
    return s[..., None, :] * u**2 + vh**2


LINALG = {"einsum", "einsum_trace", "inv", "solve", "det", "slogdet", "pinv", "cholesky", "eigh",
          "svd", "qr", "expm"}  # fmt: skip


def _complex_parts(a):
    w = np.exp(1j * np.tanh(a)) * (np.square(a) + 0.5)
    return np.real(np.conj(w) * np.sign(w)) + np.imag(w) * np.angle(w) + np.abs(w)


def _applicable(name: str, shape: tuple) -> bool:
    nd = len(shape)
    if name in ("transpose", "gram"):
        return nd >= 1 and (name != "transpose" or nd >= 2)
    doubles = int(np.prod(shape)) * 2 <= MAX_SIZE
    if name == "concatenate":
        return nd >= 1 and doubles
    if name in (
        "reverse",
        "gather",
        "take_last",
        "reshape",
        "cumsum",
        "cumprod",
        "sort",
        "partition",
    ):
        return nd >= 1
    if name == "squeeze":
        return 1 in shape
    if name in ("broadcast", "stack"):
        return doubles
    if name in LINALG:
        return int(np.prod(shape)) * (shape[-1] if shape else 1) <= MAX_SIZE
    return True


def _draw_param(draw, name: str, shape: tuple):
    nd = len(shape)
    if name in ("sum", "mean", "max", "min", "prod", "median"):
        axis = draw(st.sampled_from([None, *range(nd)]))
        return axis, draw(st.booleans())
    if name == "reshape":
        return draw(st.sampled_from([(-1,), (1, *shape), (*shape, 1)]))
    if name == "squeeze":
        return draw(st.sampled_from([i for i, d in enumerate(shape) if d == 1]))
    if name == "gather":  # repeated indices: the adjoint must scatter-add
        return draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4))
    if name in ("concatenate", "cumsum", "cumprod", "sort", "partition"):
        return draw(st.integers(0, nd - 1))
    if name == "stack":
        return draw(st.integers(0, nd))
    return None


@dataclass
class Program:
    inputs: list  # arrays
    steps: list  # (op name, operand indices, param)
    seed: int

    def __repr__(self) -> str:
        shapes = [a.shape for a in self.inputs]
        return f"Program(inputs={shapes}, steps={self.steps}, seed={self.seed})"

    def values(self, *args):
        vals = list(args)
        for name, idx, param in self.steps:
            _, fn = OPS[name]
            a = vals[idx[0]]
            b = vals[idx[1]] if len(idx) > 1 else None
            vals.append(fn(a, b, param))
        return vals

    def last(self, *args):
        """The last computed value (non-scalar in general)."""
        return self.values(*args)[-1]

    def loss(self, *args):
        """A weighted sum of every computed value: a scalar that uses every step."""
        vals = self.values(*args)
        computed = vals[len(args) :] or vals
        rng = np.random.default_rng(self.seed)
        total = 0.0
        for v in computed:
            w = rng.uniform(0.5, 1.5, size=np.shape(v)).astype(v.dtype)
            total = total + np.sum(v * w)
        return total


@st.composite
def programs(draw, max_steps=8):
    nd = draw(st.integers(0, 3))
    base = tuple(draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.integers(0, nd))  # a suffix of the base shape, some axes kept as 1
        ones = draw(st.lists(st.booleans(), min_size=k, max_size=k))
        shapes.append(tuple(1 if one else d for d, one in zip(base[nd - k :], ones)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(-1.5, 1.5, size=s) for s in shapes]
    vshapes = list(shapes)
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        i = draw(st.integers(0, len(vshapes) - 1))
        s = vshapes[i]
        name = draw(st.sampled_from([n for n in OPS if _applicable(n, s)]))
        arity, fn = OPS[name]
        idx = (i,)
        if arity == 2:
            partners = [j for j, t in enumerate(vshapes) if _fits(s, t)]
            idx = (i, draw(st.sampled_from(partners)))
        param = _draw_param(draw, name, s)
        dummies = [np.ones(vshapes[j]) for j in idx] + [None]
        vshapes.append(np.shape(fn(dummies[0], dummies[1], param)))
        steps.append((name, idx, param))
    return Program(inputs, steps, seed)


def _fits(s: tuple, t: tuple) -> bool:
    try:
        return int(np.prod(np.broadcast_shapes(s, t))) <= MAX_SIZE
    except ValueError:
        return False


def test_op_table_covers_the_primitive_set():
    # every differentiable primitive but astype (float32 rounding would swamp the
    # differences) and float_power (below); scatter_add is getitem's adjoint, reached by the
    # second-order test
    params = {"sum": (0, False), "mean": (0, False), "max": (0, False), "min": (0, False),
              "prod": (0, False), "median": (0, False), "reshape": (-1,), "squeeze": 1,
              "gather": [0, 0], "concatenate": 0, "stack": 0, "cumsum": 0, "cumprod": 0,
              "sort": 0, "partition": 0}  # fmt: skip
    covered = set()
    for name, (arity, fn) in OPS.items():
        p = params.get(name)
        f = lambda a, fn=fn, p=p, arity=arity: fn(a, a if arity == 2 else None, p)
        graph = trace(f).trace(np.ones((2, 1, 3)))
        covered |= {d["op"] for d in graph.nodes.values()}
    differentiable = {name for name, p in PRIMITIVES.items() if p.differentiable}
    if sc is None:
        differentiable -= {p.name for p in special.PRIMITIVES}
    # float_power computes in float64 by definition: the float32 programs could not stay
    # float32 (test_rules.py checks it)
    assert differentiable - covered == {"astype", "scatter_add", "float_power"}


SETTINGS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)


@settings(max_examples=200, **SETTINGS)
@given(programs())
def test_gradient_matches_central_differences(prog):
    args = prog.inputs
    np.testing.assert_allclose(trace(prog.loss)(*args), prog.loss(*args), rtol=1e-12)
    fwd = trace(prog.loss).trace(*args)
    validate(build_grad_graph(fwd))
    validate(grad(prog.loss, argnums=tuple(range(len(args)))).trace(*args))
    check_grad(prog.loss, *args, rtol=1e-4, atol=1e-5)


@settings(max_examples=200, **SETTINGS)
@given(programs())
def test_jvp_consistent_with_vjp(prog):
    args = prog.inputs
    rng = np.random.default_rng(prog.seed + 1)
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    out, t_out = jvp(prog.last, tuple(args), tangents)
    expected = prog.last(*args)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    out2, vjp_fn = vjp(prog.last, *args)
    u = rng.standard_normal(np.shape(expected))
    cts = vjp_fn(u)
    assert [np.shape(c) for c in cts] == [np.shape(a) for a in args]
    lhs = np.sum(u * t_out)
    rhs = sum(np.sum(c * t) for c, t in zip(cts, tangents))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, **SETTINGS)
@given(programs(max_steps=4))
def test_second_order(prog):
    check_grad(prog.loss, *prog.inputs, order=2, rtol=1e-3, atol=1e-4)


@settings(max_examples=100, **SETTINGS)
@given(programs())
def test_float32_programs_keep_float32(prog):
    args32 = [a.astype(np.float32) for a in prog.inputs]
    argnums = tuple(range(len(args32)))
    g32 = grad(prog.loss, argnums=argnums)(*args32)
    graph = grad(prog.loss, argnums=argnums).trace(*args32)
    validate(graph)
    floats = {d["dtype"] for d in graph.nodes.values() if np.dtype(d["dtype"]).kind == "f"}
    assert floats == {"float32"}
    g64 = grad(prog.loss, argnums=argnums)(*[a.astype(np.float64) for a in args32])
    for a, g, ref in zip(args32, g32, g64):
        assert g.dtype == np.float32 and g.shape == a.shape
        np.testing.assert_allclose(g, ref, rtol=1e-3, atol=1e-3)
