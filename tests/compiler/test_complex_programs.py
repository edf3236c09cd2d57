"""Hypothesis: random programs mixing complex64/complex128 with every other dtype users pass.

The sibling of ``test_mixed_dtype_programs.py``: each step combines the running value
with another operand through one binary primitive (either side), the operand drawn
from complex64 and complex128 arrays, NumPy complex scalars and Python complex
numbers as well as the real kinds (bool, ints, floats), or applies one of the ops
that are not holomorphic on complex values (abs, angle, sign, conj, real, imag,
var, std) or a holomorphic one. The input is real or complex; the loss is real
(``sum(real(v) * a + imag(v) * b)``). Checked: the value against NumPy, the gradient
against central differences (``df/dx - 1j * df/dy`` for a complex input, JAX's
convention), and jvp against the gradient (``Re(sum(grad * t))``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import compile, grad, jvp, numerical_grad

pytestmark = pytest.mark.usefixtures("validated_graphs")

N = 3


def _other(kind: str, rng, positive: bool):
    """An operand of ``kind``; ``positive`` keeps its real part away from zero (divisors,
    bases, which then stay off the branch cut of ``pow``)."""
    lo, hi = (1, 4) if positive else (-3, 4)
    ints = rng.integers(lo, hi, size=N)
    floats = rng.uniform(0.5, 2.0, size=N) * (1 if positive else rng.choice([-1, 1], size=N))
    cplx = floats + 1j * rng.uniform(-0.8, 0.8, size=N)
    return {
        "bool": np.ones(N, bool) if positive else rng.integers(0, 2, size=N).astype(bool),
        "int32": ints.astype(np.int32),
        "int": int(ints[0]),
        "float32": floats.astype(np.float32),
        "float64": floats,
        "float": float(floats[0]),
        "complex64": cplx.astype(np.complex64),
        "complex128": cplx,
        "np.complex128": np.complex128(cplx[0]),
        "np.complex64": np.complex64(cplx[1]),
        "complex": complex(cplx[2]),
    }[kind]


KINDS = ["bool", "int32", "int", "float32", "float64", "float", "complex64", "complex128",
         "np.complex128", "np.complex64", "complex"]  # fmt: skip
COMPLEX_KINDS = [k for k in KINDS if "complex" in k]

# op -> (needs a positive other operand, fn(v, o) with v first, fn with v second)
BINARY = {
    "add": (False, lambda v, o: v + o, lambda v, o: o + v),
    "sub": (False, lambda v, o: v - o, lambda v, o: o - v),
    "mul": (False, lambda v, o: v * o, lambda v, o: o * v),
    "div": (True, lambda v, o: v / o, lambda v, o: o / (v * v + 1.0)),
    "pow": (True, lambda v, o: (v * v + 0.5) ** o, lambda v, o: (o + 0.5) ** np.tanh(v)),
    "maximum": (False, lambda v, o: np.maximum(v, o), lambda v, o: np.minimum(o, v)),
    "where": (
        False,
        lambda v, o: np.where(v > 0.2, v * 2.0, o),
        lambda v, o: np.where(v < 0.2, o, np.sin(v)),
    ),  # fmt: skip
    "matmul": (
        False,
        lambda v, o: v @ (o * np.ones((N, N), np.int8)),
        lambda v, o: (o * np.ones((N, N), np.int8)) @ v,
    ),  # fmt: skip
    "compare": (False, lambda v, o: (v > o) * v, lambda v, o: np.where(o <= v, v * v, 0.5)),
    "logical": (False, lambda v, o: np.logical_and(v, o) * v, lambda v, o: np.logical_or(o, v) * v),
}
# unary steps: the running value has real part in (-1, 1) and imaginary part in (-0.5, 0.5),
# so ``v + 2`` keeps log, sqrt, angle, sign and abs away from 0 and from branch cuts
UNARY = {
    "abs": lambda v: np.abs(v + 2.0) * v,
    "angle": lambda v: np.angle(v + 2.0) + v,
    "sign": lambda v: np.sign(v + 2.0) * v,
    "conj": lambda v: np.conj(v) * (v + 1.0),
    "parts": lambda v: np.real(v) * np.imag(v) + v.real - v.imag * 1j,
    "var": lambda v: np.var(v) * v + np.std(v + np.arange(N)),
    "log_sqrt": lambda v: np.log(v + 2.0) + np.sqrt(v + 2.0),
    "exp_reciprocal": lambda v: np.exp(v) * np.reciprocal(v + 2.0),
}


def _squash(v):
    """Keep the running value moderate: tanh of each part (bounded imaginary part, so a later
    tanh or pow stays away from its poles and cuts)."""
    if np.iscomplexobj(v):
        return np.tanh(np.real(v)) + 0.5j * np.tanh(np.imag(v))
    return np.tanh(v)


@st.composite
def programs(draw):
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    steps, others = [], []
    n = draw(st.integers(1, 4))
    forced = draw(st.integers(0, n - 1))  # one step at least has a complex operand
    for i in range(n):
        if draw(st.integers(0, 3)) == 0:
            steps.append((draw(st.sampled_from(sorted(UNARY))), None))
            others.append(None)
            continue
        op = draw(st.sampled_from(sorted(BINARY)))
        kind = draw(st.sampled_from(COMPLEX_KINDS if i == forced else KINDS))
        steps.append((op, draw(st.booleans())))
        others.append(_other(kind, rng, BINARY[op][0]))
    x = rng.uniform(-1.3, 1.3, size=N)
    x_kind = draw(st.sampled_from(["float64", "complex128", "complex64"]))
    if x_kind != "float64":
        x = (x + 1j * rng.uniform(-0.5, 0.5, size=N)).astype(x_kind)
    # keep x off the kinks of maximum/comparisons (lexicographic: the real parts decide)
    for o in others:
        if o is not None:
            re = np.real(np.asarray(o)).astype(np.float64)
            x = np.where(np.abs(np.real(x) - re) < 1e-2, x + 0.03, x)
    return steps, tuple(others), x


def program(steps):
    def f(x, others):
        v = x
        for (op, first), o in zip(steps, others):
            if first is None:
                v = UNARY[op](v)
            else:
                v = BINARY[op][1 if first else 2](v, o)
            v = _squash(v)
        w = np.arange(1.0, N + 1)
        return np.sum(np.real(v) * w + np.imag(v) * (w - 2.5))

    return f


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@settings(max_examples=250, **SETTINGS)
@given(programs())
def test_gradient_with_complex_operands_matches_central_differences(prog):
    steps, others, x = prog
    f = program(steps)
    with warnings.catch_warnings():
        # nothing a user did not write may drop an imaginary part
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        got = grad(f)(x, others)
        value = compile(f)(x, others)
        direction = np.linspace(-1.0, 1.0, N) + (0.5j if np.iscomplexobj(x) else 0)
        _, tangent = jvp(lambda x: f(x, others), (x,), (direction.astype(x.dtype),))
    x64 = x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)
    with np.errstate(all="ignore"):
        want = numerical_grad(f, x64, others)
        expected = f(x, others)
    assert got.dtype == x.dtype
    single = x.dtype == np.complex64 or any(
        np.result_type(o) in (np.float32, np.complex64) for o in others if o is not None
    )
    tol = 1e-4 if single else 1e-12
    np.testing.assert_allclose(value, expected, rtol=tol, atol=tol)
    tol = 2e-2 if single else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # the jvp is the real pairing of the gradient with the tangent: Re(sum(g * t))
    pairing = np.real(np.sum(got * direction.astype(x.dtype)))
    np.testing.assert_allclose(tangent, pairing, rtol=1e-4 if single else 1e-9, atol=1e-6)
