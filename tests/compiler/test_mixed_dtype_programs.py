"""Hypothesis: random programs mixing a float input with operands of every dtype users pass.

Each step combines the running floating-point value with another operand through one
binary primitive (either side): bool, int32 and int64 arrays, NumPy integer scalars,
Python ints and bools, float32 and float64 arrays, Python floats. The gradient with
respect to the float input is compared with central differences in float64, and the
value with NumPy, so a rule that computes a local derivative in an integer dtype
(``1 / k == 0``) cannot hide.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import compile, grad, jvp, numerical_grad

pytestmark = pytest.mark.usefixtures("validated_graphs")

N = 3


def _other(kind: str, rng, positive: bool):
    """An operand of ``kind``; ``positive`` keeps it away from zero (divisors, bases)."""
    lo, hi = (1, 4) if positive else (-3, 4)
    ints = rng.integers(lo, hi, size=N)
    floats = rng.uniform(0.5, 2.0, size=N) * (1 if positive else rng.choice([-1, 1], size=N))
    return {
        "bool": np.ones(N, bool) if positive else rng.integers(0, 2, size=N).astype(bool),
        "int32": ints.astype(np.int32),
        "int64": ints.astype(np.int64),
        "np.int64": np.int64(ints[0]),
        "np.int32": np.int32(ints[0]),
        "int": int(ints[0]),
        "bool-scalar": True if positive else bool(ints[0] % 2),
        "float32": floats.astype(np.float32),
        "float64": floats,
        "float": float(floats[0]),
    }[kind]


KINDS = ["bool", "int32", "int64", "np.int64", "np.int32", "int", "bool-scalar", "float32",
         "float64", "float"]  # fmt: skip

# op -> (needs a positive other operand, fn(x, o) with x first, fn with x second)
OPS = {
    "add": (False, lambda x, o: x + o, lambda x, o: o + x),
    "sub": (False, lambda x, o: x - o, lambda x, o: o - x),
    "mul": (False, lambda x, o: x * o, lambda x, o: o * x),
    "div": (True, lambda x, o: x / o, lambda x, o: o / (x * x + 1.0)),
    "pow": (True, lambda x, o: (x * x + 0.5) ** o, lambda x, o: (o + 0.5) ** np.tanh(x)),
    "maximum": (False, lambda x, o: np.maximum(x, o), lambda x, o: np.maximum(o, x)),
    "minimum": (False, lambda x, o: np.minimum(x, o), lambda x, o: np.minimum(o, x)),
    "where": (
        False,
        lambda x, o: np.where(x > 0.2, x * 2.0, o),
        lambda x, o: np.where(x < 0.2, o, np.sin(x)),
    ),  # fmt: skip
    # an int8 matrix takes the other operand's dtype kind (bool*int8 -> int8, ...)
    "matmul": (
        False,
        lambda x, o: x @ (o * np.ones((N, N), np.int8)),
        lambda x, o: (o * np.ones((N, N), np.int8)) @ x,
    ),  # fmt: skip
    "compare": (False, lambda x, o: (x > o) * x, lambda x, o: np.where(o <= x, x * x, 0.5)),
}


@st.composite
def programs(draw):
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    steps, others = [], []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(sorted(OPS)))
        kind = draw(st.sampled_from(KINDS))
        first = draw(st.booleans())
        steps.append((op, first))
        others.append(_other(kind, rng, OPS[op][0]))
    x = rng.uniform(-1.3, 1.3, size=N)
    # keep x off the kinks of maximum/minimum/comparisons with the other operands
    for o in others:
        x = np.where(np.abs(x - np.asarray(o, dtype=np.float64)) < 1e-3, x + 0.01, x)
    return steps, tuple(others), x


def program(steps):
    def f(x, others):
        v = x
        for (op, first), o in zip(steps, others):
            v = OPS[op][1 if first else 2](v, o)
            v = np.tanh(v)  # keep values moderate for the next step
        return np.sum(v * np.arange(1.0, N + 1))

    return f


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=300, **SETTINGS)
@given(programs())
def test_gradient_with_mixed_dtype_operands_matches_central_differences(prog):
    steps, others, x = prog
    f = program(steps)
    with np.errstate(all="ignore"):
        want = numerical_grad(f, x, others)
        value = f(x, others)
    got = grad(f)(x, others)
    assert got.dtype == np.float64
    np.testing.assert_allclose(compile(f)(x, others), value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    direction = np.linspace(-1.0, 1.0, N)
    _, tangent = jvp(lambda x: f(x, others), (x,), (direction,))
    np.testing.assert_allclose(tangent, got @ direction, rtol=1e-9, atol=1e-9)
